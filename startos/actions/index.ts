import { sdk } from '../sdk'
import { access } from './access'
import { createApiKeyAction, revokeApiKeyAction } from './apiKeys'
import { configureSparks } from './configureSparks'
import { forgetHostKey } from './forgetHostKey'
import { models } from './models'
import { regenerateSshKey } from './regenerateSshKey'
import { services } from './services'
import { showSshPublicKey } from './showSshPublicKey'
import { swapBehaviour } from './swapBehaviour'
import { testSparks } from './testSparks'

// The order the StartOS UI lists them in (within their groups); manifest.yaml records the list.
export const actions = sdk.Actions.of()
  .addAction(configureSparks)
  .addAction(showSshPublicKey)
  .addAction(testSparks)
  .addAction(regenerateSshKey)
  .addAction(forgetHostKey)
  .addAction(services)
  .addAction(models)
  .addAction(swapBehaviour)
  .addAction(access)
  .addAction(createApiKeyAction)
  .addAction(revokeApiKeyAction)
