/**
 * The rules of the Models, Access, API key and Swap behaviour actions. As in validation.ts,
 * StartOS does not enforce a form's patterns and bounds, so each handler checks again here and
 * refuses with one sentence per problem ({@link InvalidInput}).
 */
import {
  API_KEY_SCOPES,
  type ApiKeyEntry,
  SWAP_DEFAULTS,
  WATCHDOG_DEFAULTS,
} from './fileModels/config.yaml'
import { isIP } from 'node:net'
import { InvalidInput } from './validation'

type Fields = Record<string, unknown>
const record = (value: unknown): Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : {}
const blank = (value: unknown) =>
  value === null || value === undefined || (typeof value === 'string' && value.trim() === '')
const CONTROL = /[\x00-\x1f\x7f]/

export const settingsPatterns = {
  localRoot: '^/[^\\x00-\\x1f\\x7f]{0,4095}$',
  // A Host header name Litestar's allow-list understands: a name or address, `*.` + a domain
  // for its subdomains, or `*` for any.
  allowedHost: '^(\\*|(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9.:-]{0,252}[A-Za-z0-9])?)$',
  // An IPv4/IPv6 address or network (CIDR).
  trustedProxy: '^[0-9A-Fa-f.:]{2,45}(/[0-9]{1,3})?$',
  apiKeyName: '^[a-z0-9][a-z0-9_.-]{0,63}$',
} as const

export const LIMITS = {
  loadTimeout: { min: 10, max: 86400, default: 1800 },
  uploadMb: { min: 1, max: 10240, default: 200 },
  localRoots: 20,
  hosts: 50,
  apiKeys: 50,
} as const

/** A whole number in [min, max], or the default when blank. */
function wholeNumber(
  value: unknown,
  label: string,
  bounds: { min: number; max: number; default: number },
  problems: string[],
): number {
  if (blank(value)) return bounds.default
  if (typeof value !== 'number' || !Number.isInteger(value) || value < bounds.min || value > bounds.max) {
    problems.push(`${label} must be a whole number from ${bounds.min} to ${bounds.max}.`)
    return bounds.default
  }
  return value
}

/** A list of trimmed, distinct texts each matching `pattern`. */
function textList(
  value: unknown,
  label: string,
  pattern: string,
  max: number,
  problems: string[],
): string[] {
  if (blank(value)) return []
  if (!Array.isArray(value)) {
    problems.push(`${label} must be a list.`)
    return []
  }
  const out: string[] = []
  for (const item of value) {
    const text = typeof item === 'string' ? item.trim() : ''
    if (!new RegExp(pattern).test(text)) {
      problems.push(`${label}: ${JSON.stringify(item)?.slice(0, 60)} is not valid.`)
    } else if (!out.includes(text)) out.push(text)
  }
  if (out.length > max) problems.push(`${label}: at most ${max} entries.`)
  return out
}

export type ModelsSettings = { local_roots: string[]; load_timeout_s: number; max_upload_mb: number }

export function validateModels(input: unknown): ModelsSettings {
  const problems: string[] = []
  const form = record(input)
  const roots = textList(
    form.local_roots,
    'Local model directories',
    settingsPatterns.localRoot,
    LIMITS.localRoots,
    problems,
  )
  if (roots.some((root) => root.split('/').includes('..'))) {
    problems.push('Local model directories must not contain "..".')
  }
  const loadTimeout = wholeNumber(form.load_timeout_s, 'Load timeout', LIMITS.loadTimeout, problems)
  const uploadMb = wholeNumber(form.max_upload_mb, 'Upload limit', LIMITS.uploadMb, problems)
  if (problems.length > 0) throw new InvalidInput(problems)
  return { local_roots: roots, load_timeout_s: loadTimeout, max_upload_mb: uploadMb }
}

export type AccessSettings = { allowed_hosts: string[]; trusted_proxies: string[] }

/**
 * An address or network as the app's `ipaddress.ip_network(entry, strict=False)` accepts it:
 * an IPv4 or IPv6 address, optionally with a prefix length that fits it (host bits may be set).
 */
export function isProxyAddress(text: string): boolean {
  if (!new RegExp(settingsPatterns.trustedProxy).test(text)) return false
  const [address, prefix] = text.split('/')
  const family = isIP(address)
  if (family === 0) return false
  if (prefix === undefined) return true
  return Number(prefix) <= (family === 4 ? 32 : 128)
}

export function validateAccess(input: unknown): AccessSettings {
  const problems: string[] = []
  const form = record(input)
  const hosts = textList(
    form.allowed_hosts,
    'Allowed host names',
    settingsPatterns.allowedHost,
    LIMITS.hosts,
    problems,
  )
  const proxies = textList(
    form.trusted_proxies,
    'Trusted proxies',
    settingsPatterns.trustedProxy,
    LIMITS.hosts,
    problems,
  )
  for (const proxy of proxies) {
    if (!isProxyAddress(proxy)) {
      problems.push(`Trusted proxies: ${JSON.stringify(proxy)} is not an IP address or network.`)
    }
  }
  if (problems.length > 0) throw new InvalidInput(problems)
  return { allowed_hosts: hosts, trusted_proxies: proxies }
}

export type ApiKeyRequest = { name: string; scope: ApiKeyEntry['scope'] }

export function validateApiKeyRequest(input: unknown, existing: ApiKeyEntry[]): ApiKeyRequest {
  const problems: string[] = []
  const form = record(input)
  const name = typeof form.name === 'string' ? form.name.trim() : ''
  if (!new RegExp(settingsPatterns.apiKeyName).test(name)) {
    problems.push('The key name must be 1-64 lowercase letters, digits, ".", "_" or "-".')
  } else if (existing.some((key) => key.name === name)) {
    problems.push(`A key named "${name}" exists already: revoke it first, or choose another name.`)
  }
  if (!(API_KEY_SCOPES as readonly unknown[]).includes(form.scope)) {
    problems.push(`The scope must be one of ${API_KEY_SCOPES.join(', ')}.`)
  }
  if (existing.length >= LIMITS.apiKeys) problems.push(`At most ${LIMITS.apiKeys} API keys.`)
  if (problems.length > 0) throw new InvalidInput(problems)
  return { name, scope: form.scope as ApiKeyEntry['scope'] }
}

export type SwapBehaviour = {
  swap: typeof SWAP_DEFAULTS
  watchdog: typeof WATCHDOG_DEFAULTS
}

export function validateSwapBehaviour(input: unknown): SwapBehaviour {
  const problems: string[] = []
  const form = record(input)
  const n = (key: keyof typeof SWAP_DEFAULTS, label: string, min: number, max: number) =>
    wholeNumber(form[key], label, { min, max, default: SWAP_DEFAULTS[key] as number }, problems)
  const swap = {
    drain_timeout_s: n('drain_timeout_s', 'Drain timeout', 0, 3600),
    hold_timeout_s: n('hold_timeout_s', 'Hold timeout', 0, 86400),
    hold_max_requests: n('hold_max_requests', 'Held requests', 0, 100000),
    on_failure: SWAP_DEFAULTS.on_failure,
    on_request: form.on_request === true,
    min_dwell_s: n('min_dwell_s', 'Minimum time between swaps', 0, 86400),
  }
  if (form.on_failure === 'rollback' || form.on_failure === 'stay_stopped') {
    swap.on_failure = form.on_failure
  } else if (!blank(form.on_failure)) {
    problems.push('After a failed swap must be "rollback" or "stay_stopped".')
  }
  const w = (key: Exclude<keyof typeof WATCHDOG_DEFAULTS, 'enabled'>, label: string, min: number, max: number) =>
    wholeNumber(form[`watchdog_${key}`], label, { min, max, default: WATCHDOG_DEFAULTS[key] }, problems)
  const watchdog = {
    enabled: form.watchdog_enabled !== false,
    grace_s: w('grace_s', 'Watchdog grace period', 0, 3600),
    max_restarts: w('max_restarts', 'Watchdog restarts', 1, 100),
    window_s: w('window_s', 'Watchdog window', 1, 86400),
    backoff_s: w('backoff_s', 'Watchdog backoff', 0, 3600),
  }
  if (problems.length > 0) throw new InvalidInput(problems)
  return { swap, watchdog }
}

/** Text with no control characters, for names shown back to the user. */
export const printable = (text: string) => !CONTROL.test(text)
