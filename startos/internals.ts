/**
 * Internals the package tests reach through the built bundle (tests/package/). StartOS reads
 * only the exports it knows (manifest, main, init, uninit, createBackup, actions) and ignores this.
 */
export { forgetSparkHostKey } from './actions/forgetHostKey'
export { formValues, saveSparkSettings } from './actions/configureSparks'
export { publicKeyResult } from './actions/showSshPublicKey'
export {
  BUILTIN_SERVICES,
  configFile,
  configShape,
  SSH_SERVICES,
  yamlOptions,
} from './fileModels/config.yaml'
export { checkApiHealth } from './health'
export { setInterfaces } from './interfaces'
export { forgetHostKey, hostNames, withoutHostEntries } from './knownHosts'
export { CONFIGURE_SPARKS_TASK } from './init/taskConfigureSparks'
export { readPublicKey } from './sshKey'
export { appCommand, appUser, configPath, dataDir, uiPort, volumePathOf } from './utils'
export { applySparkSettings, InvalidInput, patterns, validateSparkSettings } from './validation'
