/**
 * Asking the running app about itself, from the package's side (health checks and actions).
 *
 * The app listens on 127.0.0.1:9999 inside the service. Every call has a timeout and never
 * throws: the answer is either the parsed body or the reason there is none.
 */
import { uiPort } from './utils'

export const appUrl = `http://127.0.0.1:${uiPort}`

export type Answer<T> = { ok: true; body: T } | { ok: false; reason: string }

type Fields = Record<string, unknown>

/** GET `path` on the app; JSON object bodies of 2xx answers only. */
export async function getJson(
  path: string,
  timeoutMs = 3000,
  base: string = appUrl,
): Promise<Answer<Fields>> {
  let response: Response
  try {
    response = await fetch(`${base}${path}`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    const timedOut = (err as Error)?.name === 'TimeoutError'
    return {
      ok: false,
      reason: timedOut
        ? `Spark Control did not answer ${path} within ${Math.round(timeoutMs / 1000)} s`
        : 'Spark Control is not answering (is it running?)',
    }
  }
  if (response.status < 200 || response.status > 299) {
    await response.body?.cancel()
    return { ok: false, reason: `Spark Control answered ${path} with HTTP ${response.status}` }
  }
  try {
    const body: unknown = await response.json()
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error()
    return { ok: true, body: body as Fields }
  } catch {
    return { ok: false, reason: `Spark Control's answer to ${path} is not a JSON object` }
  }
}

/** The part of `/api/status` the package reads. Missing or malformed fields become empty. */
export type StatusView = {
  configured: boolean
  sparks: { name: string; host: string; reachable: boolean | null; detail: string }[]
  swap: { model_key: string; phase: string | null; state: string } | null
  lock: { held: boolean; holder: string | null }
  warnings: string[]
  dataVolume: { writable: boolean; problems: string[] } | null
}

const text = (value: unknown, fallback = ''): string =>
  typeof value === 'string' ? value : fallback
const record = (value: unknown): Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : {}

/** Reads the fields the package uses out of an `/api/status` body. */
export function statusView(body: Fields): StatusView {
  const sparks = Array.isArray(body.sparks) ? body.sparks.map(record) : []
  const swap = body.swap === null || body.swap === undefined ? null : record(body.swap)
  const lock = record(body.lock)
  const volume = body.data_volume === undefined ? null : record(body.data_volume)
  return {
    configured: body.configured === true,
    sparks: sparks.map((s) => ({
      name: text(s.name, '?'),
      host: text(s.host),
      reachable: typeof s.reachable === 'boolean' ? s.reachable : null,
      detail: text(s.detail),
    })),
    swap:
      swap === null
        ? null
        : {
            model_key: text(swap.model_key, '?'),
            phase: typeof swap.phase === 'string' ? swap.phase : null,
            state: text(swap.state),
          },
    lock: { held: lock.held === true, holder: typeof lock.holder === 'string' ? lock.holder : null },
    warnings: Array.isArray(body.warnings) ? body.warnings.filter((w) => typeof w === 'string') : [],
    dataVolume:
      volume === null
        ? null
        : {
            writable: volume.writable === true,
            problems: Array.isArray(volume.problems)
              ? volume.problems.filter((p): p is string => typeof p === 'string')
              : [],
          },
  }
}

/** `/api/status` of the running app, read into a {@link StatusView}. */
export async function fetchStatus(timeoutMs = 3000, base: string = appUrl) {
  const answer = await getJson('/api/status', timeoutMs, base)
  return answer.ok ? ({ ok: true, body: statusView(answer.body) } as const) : answer
}
