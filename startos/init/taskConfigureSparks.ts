import { configureSparks } from '../actions/configureSparks'
import { configFile } from '../fileModels/config.yaml'
import { sdk } from '../sdk'
import { i18n } from '../i18n'

export const CONFIGURE_SPARKS_TASK = 'spark-control:configure-sparks'

// While no Spark is configured the dashboard has nothing to show: ask the user to run Configure
// Sparks. Read with const() so the task is cleared as soon as a Spark is saved.
export const taskConfigureSparks = sdk.setupOnInit(async (effects) => {
  const count = (await configFile.read((c) => c.sparks.length).const(effects)) ?? 0
  if (count === 0) {
    await sdk.action.createOwnTask(effects, configureSparks, 'important', {
      reason: i18n('Add your DGX Sparks so Spark Control can reach them over SSH.'),
      replayId: CONFIGURE_SPARKS_TASK,
    })
  } else {
    await sdk.action.clearTask(effects, CONFIGURE_SPARKS_TASK)
  }
})
