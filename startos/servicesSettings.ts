/**
 * The Services action's rules: where the built-in services run, and the services a user adds
 * (app/services/registry.py is the reader; its patterns are repeated here and tested against
 * it). Refused input throws {@link InvalidInput} listing every problem.
 */
import {
  SERVICE_KINDS,
  type ServiceKind,
  type ServiceOverride,
  type ServicesOverrides,
} from './fileModels/servicesOverrides.yaml'
import { InvalidInput, isPort, patterns } from './validation'

/** The built-in services that run on a Spark the user chooses, with their default placement. */
export const PLACED_SERVICES = {
  parakeet: { name: 'Parakeet (speech recognition)', node: 'spark2', port: 8000 },
  kokoro: { name: 'Kokoro (text to speech)', node: 'spark2', port: 8880 },
  embeddings: { name: 'Embeddings server', node: 'spark2', port: 8002 },
  qdrant: { name: 'Qdrant vector database', node: 'spark2', port: 6333 },
} as const
export type PlacedService = keyof typeof PLACED_SERVICES
export const BUILTIN_KEYS = ['vllm', ...Object.keys(PLACED_SERVICES)]

export const servicePatterns = {
  url: '^https?://[^\\s]{1,500}$',
  healthPath: '^/[^\\s]{0,200}$',
} as const
const NAME_MAX = 100
const CONTROL = /[\x00-\x1f\x7f]/

export type Placement = { node: string | null; port: number | null }
export type ServicesSettings = {
  placement: Record<PlacedService, Placement>
  added: ServiceOverride[]
}

type Fields = Record<string, unknown>
const record = (value: unknown): Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : {}
const blank = (value: unknown) =>
  value === null || value === undefined || (typeof value === 'string' && value.trim() === '')
const shown = (value: unknown) => JSON.stringify(value)?.slice(0, 60) ?? String(value)

function checkNode(value: unknown, label: string, sparks: string[], problems: string[]) {
  if (blank(value)) return null
  if (typeof value !== 'string' || !new RegExp(patterns.sparkName).test(value.trim())) {
    problems.push(`${label}: ${shown(value)} is not a Spark name.`)
    return null
  }
  const node = value.trim()
  if (!sparks.includes(node)) {
    problems.push(
      `${label}: no Spark is named "${node}" (configured: ${sparks.join(', ') || 'none'}).`,
    )
    return null
  }
  return node
}

function checkPort(value: unknown, label: string, problems: string[]) {
  if (blank(value)) return null
  if (!isPort(value)) {
    problems.push(`${label}: port ${shown(value)} must be a whole number from 1 to 65535.`)
    return null
  }
  return value
}

function checkAdded(raw: unknown, index: number, sparks: string[], problems: string[]) {
  const form = record(raw)
  const key = typeof form.key === 'string' ? form.key.trim() : ''
  const label = `Added service ${index + 1}${key ? ` ("${key}")` : ''}`
  const before = problems.length
  if (!new RegExp(patterns.serviceKey).test(key)) {
    problems.push(
      `${label}: the key must be 1-32 lowercase letters, digits, "_" or "-", starting with a letter or digit.`,
    )
  } else if (BUILTIN_KEYS.includes(key)) {
    problems.push(`${label}: "${key}" is a built-in service; set where it runs above instead.`)
  }
  const name = typeof form.name === 'string' ? form.name.trim() : ''
  if (name.length > NAME_MAX || CONTROL.test(name)) {
    problems.push(`${label}: the name must be at most ${NAME_MAX} printable characters.`)
  }
  const kind = form.kind
  if (!(SERVICE_KINDS as readonly unknown[]).includes(kind)) {
    problems.push(`${label}: the kind must be one of ${SERVICE_KINDS.join(', ')}.`)
  }
  const node = checkNode(form.node, label, sparks, problems)
  const port = checkPort(form.port, label, problems)
  let url: string | null = null
  if (!blank(form.url)) {
    const text = typeof form.url === 'string' ? form.url.trim() : ''
    if (!new RegExp(servicePatterns.url).test(text)) {
      problems.push(`${label}: the URL must be an http:// or https:// address without spaces.`)
    } else url = text
  }
  if (url !== null && (node !== null || port !== null)) {
    problems.push(`${label}: give either a URL or a Spark and port, not both.`)
  } else if (url === null && problems.length === before && (node === null || port === null)) {
    problems.push(`${label}: give a URL, or the Spark it runs on and its port.`)
  }
  let healthPath: string | null = null
  if (!blank(form.health_path)) {
    const text = typeof form.health_path === 'string' ? form.health_path.trim() : ''
    if (!new RegExp(servicePatterns.healthPath).test(text)) {
      problems.push(`${label}: the health path must start with "/" and contain no spaces.`)
    } else healthPath = text
  }
  if (problems.length > before) return null
  const entry: ServiceOverride = { key, kind: kind as ServiceKind }
  if (name) entry.name = name
  if (url !== null) entry.url = url
  if (node !== null) entry.node = node
  if (port !== null) entry.port = port
  if (healthPath !== null) entry.health_path = healthPath
  return entry
}

/** Checks the Services form against the configured Spark names. */
export function validateServices(input: unknown, sparks: string[]): ServicesSettings {
  const problems: string[] = []
  const form = record(input)
  const builtins = record(form.builtins)
  const placement = {} as Record<PlacedService, Placement>
  for (const [key, info] of Object.entries(PLACED_SERVICES) as [
    PlacedService,
    (typeof PLACED_SERVICES)[PlacedService],
  ][]) {
    const entry = record(builtins[key])
    placement[key] = {
      node: checkNode(entry.node, info.name, sparks, problems),
      port: checkPort(entry.port, info.name, problems),
    }
  }
  const added: ServiceOverride[] = []
  const rawAdded = form.added ?? []
  if (!Array.isArray(rawAdded)) problems.push('Added services must be a list.')
  else {
    const seen = new Set<string>()
    rawAdded.forEach((raw, index) => {
      const entry = checkAdded(raw, index, sparks, problems)
      if (entry === null) return
      if (seen.has(entry.key)) {
        problems.push(`Added service ${index + 1}: the key "${entry.key}" is used twice.`)
        return
      }
      seen.add(entry.key)
      added.push(entry)
    })
  }
  if (problems.length > 0) throw new InvalidInput(problems)
  return { placement, added }
}

/**
 * The overrides file with `settings` applied. A built-in's other overridden fields (name,
 * health path, written by hand) are kept; the `vllm` entry is kept as it is; added services
 * are replaced by the form's list.
 */
export function applyServices(
  current: ServicesOverrides,
  settings: ServicesSettings,
): ServicesOverrides {
  const existing = new Map(current.services.map((s) => [s.key, s]))
  const services: ServiceOverride[] = []
  const vllm = existing.get('vllm')
  if (vllm) services.push(vllm)
  for (const key of Object.keys(PLACED_SERVICES) as PlacedService[]) {
    const { node: _node, port: _port, ...kept } = existing.get(key) ?? { key }
    const { node, port } = settings.placement[key]
    const entry: ServiceOverride = { ...kept, key }
    if (node !== null) entry.node = node
    if (port !== null) entry.port = port
    if (Object.keys(entry).length > 1) services.push(entry)
  }
  return { services: [...services, ...settings.added] }
}

/** The Services form's current values, read from the overrides file. */
export function servicesFormValues(current: ServicesOverrides) {
  const byKey = new Map(current.services.map((s) => [s.key, s]))
  const builtins = Object.fromEntries(
    (Object.keys(PLACED_SERVICES) as PlacedService[]).map((key) => [
      key,
      { node: byKey.get(key)?.node ?? null, port: byKey.get(key)?.port ?? null },
    ]),
  )
  const added = current.services
    .filter((s) => !BUILTIN_KEYS.includes(s.key))
    .map((s) => ({
      key: s.key,
      name: s.name ?? null,
      kind: s.kind ?? 'http',
      node: s.node ?? null,
      port: s.port ?? null,
      url: s.url ?? null,
      health_path: s.health_path ?? null,
    }))
  return { builtins, added }
}
