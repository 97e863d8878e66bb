/** The app's health as StartOS shows it: readiness (`GET /api/health`) and the checks below. */
import type { Answer, StatusView } from './appApi'

export type Readiness = { result: 'success' | 'starting' | 'failure'; message: string }

/**
 * Asks the app's health endpoint once. Success only for HTTP 200 with `status: "ok"`; anything
 * else (no answer within `timeoutMs`, another status, another body) is a failure with a reason.
 */
export async function checkApiHealth(url: string, timeoutMs = 3000): Promise<Readiness> {
  let response: Response
  try {
    response = await fetch(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch {
    return { result: 'failure', message: 'The dashboard and API are not answering yet' }
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    return { result: 'failure', message: `The API's health check answered HTTP ${response.status}` }
  }
  let body: unknown
  try {
    body = await response.json()
  } catch {
    return { result: 'failure', message: "The API's health check did not answer with JSON" }
  }
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
  if (fields.status !== 'ok') {
    return { result: 'failure', message: `The API reports status ${JSON.stringify(fields.status)}` }
  }
  const version = typeof fields.version === 'string' ? ` ${fields.version}` : ''
  return { result: 'success', message: `Spark Control${version} is ready` }
}

/*
 * The checks below read one `/api/status` answer each (the app answers it from memory, never
 * waiting on a Spark). They go red for what a user must fix: Sparks that cannot be reached, a
 * data volume the app cannot write, settings the app replaced with defaults.
 */

export type HealthResult = {
  result: 'success' | 'starting' | 'failure' | 'loading'
  message: string
}

/** The app's own sentence for "no Spark configured"; shown by the Sparks check instead. */
export const NO_SPARKS_WARNING = 'no Sparks configured — run the Configure Sparks action'

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`

/** "Sparks": how many are reachable, and the first failure's reason. */
export function sparksHealth(status: Answer<StatusView>): HealthResult {
  if (!status.ok) return { result: 'failure', message: status.reason }
  const { sparks } = status.body
  if (sparks.length === 0) {
    return { result: 'failure', message: 'No Spark is configured: run Configure Sparks.' }
  }
  const probed = sparks.filter((s) => s.reachable !== null)
  if (probed.length === 0) return { result: 'starting', message: 'Checking the Sparks…' }
  const reachable = probed.filter((s) => s.reachable === true).length
  const failing = probed.find((s) => s.reachable === false)
  const summary = `${reachable} of ${plural(sparks.length, 'Spark')} reachable`
  if (failing === undefined) {
    return probed.length === sparks.length
      ? { result: 'success', message: `${summary} over SSH` }
      : { result: 'loading', message: `${summary}; checking the others` }
  }
  return {
    result: 'failure',
    message: `${summary}. ${failing.name} (${failing.host}): ${failing.detail || 'unreachable'}`,
  }
}

/** "Data volume": can the app write its SSH key, pinned host keys and overrides. */
export function dataVolumeHealth(status: Answer<StatusView>): HealthResult {
  if (!status.ok) return { result: 'failure', message: status.reason }
  const volume = status.body.dataVolume
  if (volume === null) {
    return { result: 'failure', message: 'This version of the app does not report its data volume' }
  }
  if (volume.writable) {
    return { result: 'success', message: 'Spark Control can write its files on the data volume' }
  }
  const more = volume.problems.length > 1 ? ` (and ${volume.problems.length - 1} more)` : ''
  return {
    result: 'failure',
    message: `${volume.problems[0] ?? 'A file on the data volume cannot be written'}${more}. Restart the service: it gives the data volume back to the app.`,
  }
}

/** "Settings": values the app could not use and replaced with a default (config warnings). */
export function settingsHealth(status: Answer<StatusView>): HealthResult {
  if (!status.ok) return { result: 'failure', message: status.reason }
  const warnings = status.body.warnings.filter((w) => w !== NO_SPARKS_WARNING)
  if (warnings.length === 0) return { result: 'success', message: 'Every setting is in use' }
  const more = warnings.length > 1 ? ` (and ${warnings.length - 1} more)` : ''
  return { result: 'failure', message: `${warnings[0]}${more}` }
}
