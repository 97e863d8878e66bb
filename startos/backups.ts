import { sdk } from './sdk'

// The whole volume: config, the appliance's SSH key pair (so the Sparks keep trusting it after
// a restore), the pinned host keys and the user's model and service overrides.
export const { createBackup, restoreInit } = sdk.setupBackups(async () =>
  sdk.Backups.ofVolumes('main'),
)
