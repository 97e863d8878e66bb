/**
 * Internals the package tests reach through the built bundle (tests/package/). StartOS reads
 * only the exports it knows (manifest, main, init, uninit, createBackup, actions) and ignores this.
 */
export { fetchStatus, statusView } from './appApi'
export { saveAccess } from './actions/access'
export { createApiKey, revokeApiKey, sha256 } from './actions/apiKeys'
export { forgetSparkHostKey } from './actions/forgetHostKey'
export { formValues, saveSparkSettings } from './actions/configureSparks'
export { saveModels } from './actions/models'
export { deleteKeyPair } from './actions/regenerateSshKey'
export { refuseDuringSwap } from './actions/restartGuard'
export { saveServices } from './actions/services'
export { publicKeyResult } from './actions/showSshPublicKey'
export { applySwapBehaviour, saveSwapBehaviour } from './actions/swapBehaviour'
export { deepHealthResult, testSparksNow } from './actions/testSparks'
export {
  BUILTIN_SERVICES,
  configFile,
  configShape,
  DEFAULT_TRUSTED_PROXIES,
  SSH_SERVICES,
  WEBHOOK_EVENTS,
  yamlOptions,
} from './fileModels/config.yaml'
export { servicesOverridesFile } from './fileModels/servicesOverrides.yaml'
export {
  checkApiHealth,
  dataVolumeHealth,
  NO_SPARKS_WARNING,
  settingsHealth,
  sparksHealth,
} from './health'
export { apiDescription, setInterfaces } from './interfaces'
export { forgetHostKey, hostNames, withoutHostEntries } from './knownHosts'
export { CONFIGURE_SPARKS_TASK } from './init/taskConfigureSparks'
export { servicePatterns } from './servicesSettings'
export { settingsPatterns, validateAccess, validateSwapBehaviour } from './settingsValidation'
export { readPublicKey } from './sshKey'
export { appCommand, appUser, configPath, dataDir, uiPort, volumePathOf } from './utils'
export { applySparkSettings, InvalidInput, patterns, validateSparkSettings } from './validation'
