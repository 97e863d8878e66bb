// A stand-in for the running app on 127.0.0.1 (a real HTTP server on port 0): answers each path
// with the body the test sets, so the package's health checks and actions read real HTTP.
import { createServer } from 'node:http'

export async function fakeApp(routes) {
  const seen = []
  const server = createServer((request, response) => {
    seen.push(request.url)
    const route = routes[request.url]
    if (route === undefined) {
      response.writeHead(404).end()
      return
    }
    const { status = 200, body } = typeof route === 'function' ? route() : route
    response.writeHead(status, { 'content-type': 'application/json' })
    response.end(typeof body === 'string' ? body : JSON.stringify(body))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${server.address().port}`
  return {
    base,
    seen,
    close: () => new Promise((resolve) => server.close(resolve)),
  }
}

/** An /api/status body as the app answers it, with `patch` applied. */
export function statusBody(patch = {}) {
  return {
    configured: true,
    sparks: [
      { name: 'spark1', host: '192.168.1.50', role: 'head', reachable: true, detail: 'ok', gpu: null, checked_at: null },
      { name: 'spark2', host: '192.168.1.51', role: 'worker', reachable: true, detail: 'ok', gpu: null, checked_at: null },
    ],
    services: [],
    model: { key: null, state: 'stopped' },
    lock: { held: false },
    swap: null,
    warnings: [],
    data_volume: { writable: true, problems: [] },
    ...patch,
  }
}
