import { FileHelper, z } from '@start9labs/start-sdk'
import { sdk } from '../sdk'
import { yamlOptions } from './config.yaml'

/**
 * /data/services-overrides.yaml: changes to the built-in services (where they run, their port)
 * and services the user adds, e.g. `kind: vllm` monitors of a second vLLM (shared CONFIG.md;
 * app/services/registry.py is the reader and rejects unknown fields).
 */

export const SERVICE_KINDS = ['vllm', 'openai', 'http', 'qdrant'] as const
export type ServiceKind = (typeof SERVICE_KINDS)[number]

/** Where config.yaml points the app by default; the Services action edits only this file. */
export const SERVICES_OVERRIDES_PATH = '/data/services-overrides.yaml'

const entry = z.object({
  key: z.string(),
  name: z.string().optional(),
  kind: z.enum(SERVICE_KINDS).optional(),
  node: z.string().optional(),
  url: z.string().optional(),
  port: z.number().int().optional(),
  health_path: z.string().optional(),
  description: z.string().optional(),
})
export type ServiceOverride = z.infer<typeof entry>

export const overridesShape = z.object({ services: z.array(entry).catch([]) })
export type ServicesOverrides = z.infer<typeof overridesShape>

export const servicesOverridesFile = FileHelper.yaml(
  { base: sdk.volumes.main, subpath: 'services-overrides.yaml' },
  overridesShape,
  yamlOptions,
)
