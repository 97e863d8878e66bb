import { FileHelper, z } from '@start9labs/start-sdk'
import { sdk } from '../sdk'

/**
 * /data/config.yaml: the file the actions write and the app reads once at startup
 * (shared/CONFIG.md; app/config.py is the reader and the final judge).
 *
 * Every key has a default, so `configFile.merge(effects, {})` seeds a complete file at install.
 * Keys the app does not know must never be written: app/config.py rejects unknown fields.
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
export const WATCHDOG_DEFAULTS = {
  enabled: true,
  grace_s: 10,
  max_restarts: 3,
  window_s: 600,
  backoff_s: 10,
}
/** Loopback and the StartOS 0.4 bridge gateway, from which StartOS's reverse proxy connects. */
export const DEFAULT_TRUSTED_PROXIES = ['127.0.0.0/8', '::1', '10.0.3.1']
export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co'
export const WEBHOOK_EVENTS = [
  'swap_complete',
  'swap_failed',
  'model_crashed',
  'model_restarted',
  'spark_unreachable',
  'spark_recovered',
  'lock_acquired',
  'lock_released',
  'lock_expired',
  'download_complete',
  'download_failed',
] as const
export const WEBHOOK_DEFAULTS = {
  url: '',
  secret: '',
  events: ['swap_complete', 'swap_failed'] as (typeof WEBHOOK_EVENTS)[number][],
  retries: 0,
}
export const STORAGE_DEFAULTS = {
  database: '/data/spark-control.db',
  history_days: 90,
  gpu_days: 7,
}

const spark = z.object({
  name: z.string(),
  host: z.string(),
  ssh_port: z.number().int().catch(DEFAULT_SSH_PORT),
  ssh_user: z.string().catch(DEFAULT_SSH_USER),
  // The Spark's address on the ConnectX cluster link; absent means the same as host.
  cluster_address: z.string().optional().catch(undefined),
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
      hf_endpoint: z.string().catch(DEFAULT_HF_ENDPOINT),
    })
    .catch({
      port: DEFAULT_VLLM_PORT,
      container: DEFAULT_CONTAINER,
      image: DEFAULT_IMAGE,
      launch_dir: DEFAULT_LAUNCH_DIR,
      hf_home: '~/.cache/huggingface',
      load_timeout_s: 1800,
      hf_token: '',
      hf_endpoint: DEFAULT_HF_ENDPOINT,
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
      url: z.string().catch(WEBHOOK_DEFAULTS.url),
      secret: z.string().catch(WEBHOOK_DEFAULTS.secret),
      events: z.array(z.enum(WEBHOOK_EVENTS)).catch(() => [...WEBHOOK_DEFAULTS.events]),
      retries: z.number().int().min(0).max(10).catch(WEBHOOK_DEFAULTS.retries),
    })
    .catch(() => ({ ...WEBHOOK_DEFAULTS, events: [...WEBHOOK_DEFAULTS.events] })),
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
      trusted_proxies: z.array(z.string()).catch(() => [...DEFAULT_TRUSTED_PROXIES]),
      api_keys: z.array(apiKeyEntry).catch([]),
    })
    .catch(() => ({
      allowed_hosts: [],
      trusted_proxies: [...DEFAULT_TRUSTED_PROXIES],
      api_keys: [],
    })),
  storage: z
    .object({
      database: z.string().min(1).max(1024).catch(STORAGE_DEFAULTS.database),
      history_days: z.number().int().min(1).max(3650).catch(STORAGE_DEFAULTS.history_days),
      gpu_days: z.number().int().min(1).max(90).catch(STORAGE_DEFAULTS.gpu_days),
    })
    .catch(() => ({ ...STORAGE_DEFAULTS })),
  // The bounds are the app's: a hand-edited value outside them falls back to the default rather
  // than being written back for the app to refuse. Durations may have fractions (the app reads
  // floats); the actions write whole seconds.
  swap: z
    .object({
      drain_timeout_s: z.number().min(0).max(3600).catch(SWAP_DEFAULTS.drain_timeout_s),
      hold_timeout_s: z.number().min(0).max(86400).catch(SWAP_DEFAULTS.hold_timeout_s),
      hold_max_requests: z.number().int().min(0).max(100000).catch(SWAP_DEFAULTS.hold_max_requests),
      on_failure: z.enum(['rollback', 'stay_stopped']).catch(SWAP_DEFAULTS.on_failure),
      on_request: z.boolean().catch(SWAP_DEFAULTS.on_request),
      min_dwell_s: z.number().min(0).max(86400).catch(SWAP_DEFAULTS.min_dwell_s),
    })
    .catch(() => ({ ...SWAP_DEFAULTS })),
  watchdog: z
    .object({
      enabled: z.boolean().catch(WATCHDOG_DEFAULTS.enabled),
      grace_s: z.number().min(0).max(3600).catch(WATCHDOG_DEFAULTS.grace_s),
      max_restarts: z.number().int().min(1).max(100).catch(WATCHDOG_DEFAULTS.max_restarts),
      window_s: z.number().min(1).max(86400).catch(WATCHDOG_DEFAULTS.window_s),
      backoff_s: z.number().min(0).max(3600).catch(WATCHDOG_DEFAULTS.backoff_s),
    })
    .catch(() => ({ ...WATCHDOG_DEFAULTS })),
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
