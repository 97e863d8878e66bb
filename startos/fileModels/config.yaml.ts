import { FileHelper, z } from '@start9labs/start-sdk'
import { sdk } from '../sdk'

/**
 * /data/config.yaml: the file the actions write and the app reads once at startup
 * (shared/CONFIG.md; app/config.py is the reader and the final judge).
 *
 * Every key has a default, so `configFile.merge(effects, {})` seeds a complete file at install.
 * Keys the app does not know must never be written: app/config.py rejects unknown fields.
 *
 * Some settings of the contract (shared CONFIG.md) are read by the app only from a later
 * version on: API keys and trusted proxies, and the `swap:` / `watchdog:` behaviour. They are
 * modelled here under their contract names but are *pending* (listed in PENDING_SETTINGS): never
 * seeded, and the actions that write them stay disabled, so this package never writes a key the
 * app in the same package would refuse. A test (tests/package/test_startos_package.py) fails as
 * soon as the app reads one of them, so it graduates: drop it from PENDING_SETTINGS and give it
 * `.catch(default)` like every other key.
 */

export const DEFAULT_VLLM_PORT = 8888
export const DEFAULT_CONTAINER = 'vllm_node'
export const DEFAULT_IMAGE = 'vllm-node'
export const DEFAULT_LAUNCH_DIR = '~/spark-vllm-docker'
export const DEFAULT_SSH_USER = 'nvidia'
export const DEFAULT_SSH_PORT = 22
export const BUILTIN_SERVICES = ['vllm', 'parakeet', 'kokoro', 'embeddings', 'qdrant'] as const
/** The built-in services that run on a Spark reached over SSH, each with an optional own user. */
export const SSH_SERVICES = ['parakeet', 'kokoro', 'embeddings', 'qdrant'] as const

/** Dotted config keys the package models but the app does not read yet (see above). */
export const PENDING_SETTINGS = [
  'server.trusted_proxies',
  'server.api_keys',
  'swap',
  'watchdog',
] as const
export type PendingSetting = (typeof PENDING_SETTINGS)[number]
export const isPending = (key: PendingSetting): boolean =>
  (PENDING_SETTINGS as readonly string[]).includes(key)

/** A pending key: absent unless an action wrote it, dropped when malformed. */
const pending = <T extends z.ZodTypeAny>(schema: T) => schema.optional().catch(undefined)

export const API_KEY_SCOPES = ['read', 'operate', 'admin'] as const
export const apiKeyEntry = z.object({
  name: z.string(),
  key_sha256: z.string(),
  scope: z.enum(API_KEY_SCOPES),
})
export type ApiKeyEntry = z.infer<typeof apiKeyEntry>

export const SWAP_DEFAULTS = {
  drain_timeout_s: 30,
  hold_timeout_s: 600,
  hold_max_requests: 256,
  on_failure: 'rollback' as 'rollback' | 'stay_stopped',
  on_request: false,
  min_dwell_s: 300,
}
export const WATCHDOG_DEFAULTS = { enabled: true, grace_s: 10 }

const spark = z.object({
  name: z.string(),
  host: z.string(),
  ssh_port: z.number().int().catch(DEFAULT_SSH_PORT),
  ssh_user: z.string().catch(DEFAULT_SSH_USER),
})

export const configShape = z.object({
  sparks: z.array(spark).catch([]),
  ssh: z
    .object({
      key_file: z.string().catch('/data/ssh/id_ed25519'),
      known_hosts: z.string().catch('/data/ssh/known_hosts'),
    })
    .catch({ key_file: '/data/ssh/id_ed25519', known_hosts: '/data/ssh/known_hosts' }),
  vllm: z
    .object({
      port: z.number().int().catch(DEFAULT_VLLM_PORT),
      container: z.string().catch(DEFAULT_CONTAINER),
      image: z.string().catch(DEFAULT_IMAGE),
      launch_dir: z.string().catch(DEFAULT_LAUNCH_DIR),
      hf_home: z.string().catch('~/.cache/huggingface'),
      load_timeout_s: z.number().int().catch(1800),
      hf_token: z.string().catch(''),
    })
    .catch({
      port: DEFAULT_VLLM_PORT,
      container: DEFAULT_CONTAINER,
      image: DEFAULT_IMAGE,
      launch_dir: DEFAULT_LAUNCH_DIR,
      hf_home: '~/.cache/huggingface',
      load_timeout_s: 1800,
      hf_token: '',
    }),
  services: z
    .object({
      disabled: z.array(z.string()).catch([]),
      overrides_file: z.string().catch('/data/services-overrides.yaml'),
      ssh_users: z.record(z.string(), z.string()).catch({}),
    })
    .catch({ disabled: [], overrides_file: '/data/services-overrides.yaml', ssh_users: {} }),
  webhook: z
    .object({
      url: z.string().catch(''),
      secret: z.string().catch(''),
    })
    .catch({ url: '', secret: '' }),
  models: z
    .object({
      catalog_file: z.string().catch(''),
      overrides_file: z.string().catch('/data/models-overrides.yaml'),
      local_roots: z.array(z.string()).catch(['/home/nvidia/models']),
    })
    .catch({
      catalog_file: '',
      overrides_file: '/data/models-overrides.yaml',
      local_roots: ['/home/nvidia/models'],
    }),
  limits: z
    .object({
      max_upload_mb: z.number().int().catch(200),
    })
    .catch({ max_upload_mb: 200 }),
  server: z
    .object({
      allowed_hosts: z.array(z.string()).catch([]),
      trusted_proxies: pending(z.array(z.string())),
      api_keys: pending(z.array(apiKeyEntry)),
    })
    .catch({ allowed_hosts: [] }),
  swap: pending(
    z.object({
      drain_timeout_s: z.number().int().catch(SWAP_DEFAULTS.drain_timeout_s),
      hold_timeout_s: z.number().int().catch(SWAP_DEFAULTS.hold_timeout_s),
      hold_max_requests: z.number().int().catch(SWAP_DEFAULTS.hold_max_requests),
      on_failure: z.enum(['rollback', 'stay_stopped']).catch(SWAP_DEFAULTS.on_failure),
      on_request: z.boolean().catch(SWAP_DEFAULTS.on_request),
      min_dwell_s: z.number().int().catch(SWAP_DEFAULTS.min_dwell_s),
    }),
  ),
  watchdog: pending(
    z.object({
      enabled: z.boolean().catch(WATCHDOG_DEFAULTS.enabled),
      grace_s: z.number().int().catch(WATCHDOG_DEFAULTS.grace_s),
    }),
  ),
})

export type Config = z.infer<typeof configShape>
export type SparkEntry = Config['sparks'][number]

/**
 * The app reads this file with PyYAML, which speaks YAML 1.1: there `on`, `yes`, `no` and `off`
 * are booleans and `1:20` is a number. Writing YAML 1.1 makes the writer quote such strings, so a
 * Spark named `on` or a host `1:20` reaches the app as the string it is.
 */
export const yamlOptions = { version: '1.1' as const }

export const configFile = FileHelper.yaml(
  { base: sdk.volumes.main, subpath: 'config.yaml' },
  configShape,
  yamlOptions,
)
