/** The readiness check of the app: `GET /api/health` answers 200 `{"status": "ok", ...}`. */

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
