import { configFile } from '../fileModels/config.yaml'
import { sdk } from '../sdk'

// Every key of the file model has a default: merging nothing writes a complete config.yaml on
// install and fills in keys a newer version added. An unchanged file is not rewritten.
export const seedConfig = sdk.setupOnInit(async (effects) => {
  await configFile.merge(effects, {})
})
