import { VersionInfo } from '@start9labs/start-sdk'
import { releaseNotes } from '../manifest/i18n'

// The first version published: there is nothing to migrate from or to.
export const v0_25_0_0 = VersionInfo.of({
  version: '0.25.0:0',
  releaseNotes,
  migrations: {},
})
