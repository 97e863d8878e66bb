import { fetchStatus } from './appApi'
import { configFile } from './fileModels/config.yaml'
import { servicesOverridesFile } from './fileModels/servicesOverrides.yaml'
import { checkApiHealth, dataVolumeHealth, settingsHealth, sparksHealth } from './health'
import { sdk } from './sdk'
import { appCommand, appUser, dataDir, uiPort } from './utils'
import { i18n } from './i18n'

export const main = sdk.setupMain(async ({ effects }) => {
  // The app reads its config once at startup. Reading it with const() here makes StartOS restart
  // the daemon whenever an action changes the file.
  await configFile.read().const(effects)
  // The services overrides are read once at startup too (the Services action writes them).
  await servicesOverridesFile.read().const(effects)

  const subcontainer = sdk.SubContainer.of(
    effects,
    { imageId: 'main' },
    sdk.Mounts.of().mountVolume({
      volumeId: 'main',
      subpath: null,
      mountpoint: dataDir,
      readonly: false,
    }),
    'spark-control',
  )

  return sdk.Daemons.of(effects)
    .addOneshot('data-ownership', {
      subcontainer,
      // The app runs unprivileged but writes its SSH key, pinned host keys and overrides under
      // /data, which actions and restores write as root. -h changes symlinks themselves, never
      // what they point to, so a link placed in /data cannot hand the app a file outside it.
      exec: { command: ['chown', '-R', '-h', `${appUser}:${appUser}`, dataDir], user: 'root' },
      requires: [],
    })
    .addDaemon('primary', {
      subcontainer,
      // Image env (PATH to the app's virtualenv, PYTHONPATH) applies; HOME is the user's own.
      exec: { command: appCommand, user: appUser, env: { HOME: `/home/${appUser}` } },
      ready: {
        display: i18n('Dashboard and API'),
        fn: () => checkApiHealth(`http://127.0.0.1:${uiPort}/api/health`),
        gracePeriod: 30_000,
      },
      requires: ['data-ownership'],
    })
    // Each reads /api/status, which the app answers from memory: cheap to poll.
    .addHealthCheck('sparks', {
      ready: { display: i18n('Sparks'), fn: async () => sparksHealth(await fetchStatus()) },
      requires: ['primary'],
    })
    .addHealthCheck('data-volume', {
      ready: { display: i18n('Data volume'), fn: async () => dataVolumeHealth(await fetchStatus()) },
      requires: ['primary'],
    })
    .addHealthCheck('settings', {
      ready: { display: i18n('Settings'), fn: async () => settingsHealth(await fetchStatus()) },
      requires: ['primary'],
    })
})
