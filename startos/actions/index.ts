import { sdk } from '../sdk'
import { configureSparks } from './configureSparks'
import { forgetHostKey } from './forgetHostKey'
import { showSshPublicKey } from './showSshPublicKey'

// The order the StartOS UI lists them in; manifest.yaml records the same list.
export const actions = sdk.Actions.of()
  .addAction(configureSparks)
  .addAction(showSshPublicKey)
  .addAction(forgetHostKey)
