import { sdk } from './sdk'

/** The port the dashboard and API listen on inside the container. */
export const uiPort = 9999

/** The unprivileged account the app runs as. The Dockerfile creates it and sets it as `USER`. */
export const appUser = 'sparkctl'

/** Where the `main` volume is mounted in the app's container. */
export const dataDir = '/data'

/** The config file the actions write and the app reads (`python -m app --config …`). */
export const configPath = `${dataDir}/config.yaml`

/** The app's command line; it must stay `python -m app --config /data/config.yaml …`. */
export const appCommand: [string, ...string[]] = [
  'python',
  '-m',
  'app',
  '--config',
  configPath,
  '--host',
  '0.0.0.0',
  '--port',
  String(uiPort),
]

/**
 * The path, as this package's JavaScript sees it, of a file the app sees at `appPath`.
 *
 * The app's container mounts the `main` volume at /data; the package code reaches the same
 * volume under /media/startos/volumes/main. Paths outside /data are not on the volume: null.
 */
export function volumePathOf(appPath: string): string | null {
  if (!appPath.startsWith(`${dataDir}/`)) return null
  const rest = appPath.slice(dataDir.length + 1)
  if (rest.split('/').some((part) => part === '..' || part === '')) return null
  return sdk.volumes.main.subpath(rest)
}
