import { actions } from '../actions'
import { restoreInit } from '../backups'
import { setDependencies } from '../dependencies'
import { setInterfaces } from '../interfaces'
import { sdk } from '../sdk'
import { versionGraph } from '../versions'
import { seedConfig } from './seedConfig'
import { taskConfigureSparks } from './taskConfigureSparks'

// restoreInit and versionGraph stay first; the task comes after the actions it points to.
export const init = sdk.setupInit(
  restoreInit,
  versionGraph,
  setInterfaces,
  setDependencies,
  actions,
  seedConfig,
  taskConfigureSparks,
)

export const uninit = sdk.setupUninit(versionGraph)
