import { IMPOSSIBLE, VersionInfo } from '@start9labs/start-sdk'

export const v0_25_0_0 = VersionInfo.of({
  version: '0.25.0:0',
  releaseNotes: [
    'Coordination layer for automation that swaps models: a swap lock with holder, token and TTL',
    '(/api/swap/lock), a signed swap-event webhook configured in Configure Sparks, and a read-only',
    'schedule registry shown on the dashboard (/api/schedule).',
    'Package: real repository links, per-service SSH users in Configure Sparks, separate x86_64',
    'and aarch64 builds, the app runs as an unprivileged user, and its Python dependencies are',
    'installed from a hash-pinned lock file. New actions: Show SSH public key and Forget a',
    "Spark's host key.",
  ].join(' '),
  migrations: {
    up: async () => {},
    down: IMPOSSIBLE,
  },
})
