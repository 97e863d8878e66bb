// The settings actions beyond Configure Sparks: what each writes, what each refuses, and the
// guard that keeps a save from restarting the app in the middle of a swap.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fakeApp, statusBody } from './appserver.mjs'
import { bundle, fakeEffects, internals, YAML } from './helpers.mjs'

const dir = () => mkdtempSync(join(tmpdir(), 'sc-settings-'))

/** A config file (with two Sparks saved) and an overrides file in a fresh directory. */
async function files() {
  const d = dir()
  const config = internals.configFile.withPath(join(d, 'config.yaml'))
  const overrides = internals.servicesOverridesFile.withPath(join(d, 'services-overrides.yaml'))
  await config.write(
    fakeEffects(),
    internals.configShape.parse({
      sparks: [
        { name: 'spark1', host: '10.0.0.1', ssh_port: 22, ssh_user: 'nvidia' },
        { name: 'gpu-b', host: '10.0.0.2', ssh_port: 22, ssh_user: 'nvidia' },
      ],
    }),
  )
  return { d, config, overrides, read: (name) => YAML.parse(readFileSync(join(d, name), 'utf-8')) }
}

const servicesForm = (patch = {}) => ({
  builtins: {
    parakeet: { node: 'gpu-b', port: null },
    kokoro: { node: null, port: 8881 },
    embeddings: { node: null, port: null },
    qdrant: { node: null, port: null },
  },
  added: [
    { key: 'vllm-b', name: 'Second vLLM', kind: 'vllm', node: 'gpu-b', port: 8000, url: null, health_path: null },
    { key: 'ollama', name: null, kind: 'openai', node: null, port: null, url: 'http://10.0.0.9:11434', health_path: '/api/tags' },
  ],
  restart_during_swap: false,
  ...patch,
})

test('Services writes placements and added services, keeping what the form does not show', async () => {
  const f = await files()
  writeFileSync(
    join(f.d, 'services-overrides.yaml'),
    'services:\n  - key: vllm\n    health_path: /v1/models\n  - key: parakeet\n    name: ASR\n    port: 9000\n  - key: old\n    kind: http\n    url: http://x:1\n',
  )
  await internals.saveServices(fakeEffects(), servicesForm(), f)
  assert.deepEqual(f.read('services-overrides.yaml'), {
    services: [
      { key: 'vllm', health_path: '/v1/models' },
      { key: 'parakeet', name: 'ASR', node: 'gpu-b' },
      { key: 'kokoro', port: 8881 },
      { key: 'vllm-b', kind: 'vllm', name: 'Second vLLM', node: 'gpu-b', port: 8000 },
      { key: 'ollama', kind: 'openai', url: 'http://10.0.0.9:11434', health_path: '/api/tags' },
    ],
  })
})

test('Services refuses what the app would not run, naming every problem, and writes nothing', async () => {
  const f = await files()
  const form = servicesForm({
    builtins: { parakeet: { node: 'spark9', port: 70000 } },
    added: [
      { key: 'qdrant', kind: 'http', url: 'http://a:1' },
      { key: 'Bad Key', kind: 'http', url: 'http://a:1' },
      { key: 'both', kind: 'http', node: 'gpu-b', port: 1, url: 'http://a:1' },
      { key: 'noport', kind: 'vllm', node: 'gpu-b' },
      { key: 'shell', kind: 'http', url: 'http://a:1/$(reboot) x' },
      { key: 'kind', kind: 'ftp', url: 'http://a:1' },
      { key: 'dup', kind: 'http', url: 'http://a:1' },
      { key: 'dup', kind: 'http', url: 'http://b:1' },
    ],
  })
  await assert.rejects(internals.saveServices(fakeEffects(), form, f), (err) => {
    const text = err.message
    for (const needle of [
      'no Spark is named "spark9" (configured: spark1, gpu-b)',
      'port 70000 must be a whole number',
      '"qdrant" is a built-in service',
      'the key must be 1-32 lowercase',
      'either a URL or a Spark and port, not both',
      'give a URL, or the Spark it runs on and its port',
      'the URL must be an http:// or https:// address without spaces',
      'the kind must be one of vllm, openai, http, qdrant',
      'the key "dup" is used twice',
    ]) {
      assert.ok(text.includes(needle), `${needle}\n---\n${text}`)
    }
    return true
  })
  assert.throws(() => readFileSync(join(f.d, 'services-overrides.yaml')), /ENOENT/)
})

test('Models writes the local roots, load timeout and upload limit; blanks are the defaults', async () => {
  const f = await files()
  await internals.saveModels(
    fakeEffects(),
    { local_roots: ['/srv/models', ' /home/nvidia/models '], load_timeout_s: 3600, max_upload_mb: null },
    f.config,
  )
  const written = f.read('config.yaml')
  assert.deepEqual(written.models.local_roots, ['/srv/models', '/home/nvidia/models'])
  assert.equal(written.vllm.load_timeout_s, 3600)
  assert.equal(written.limits.max_upload_mb, 200)
  assert.equal(written.sparks.length, 2, 'the rest of the config is kept')
})

test('Models refuses relative or climbing paths and out-of-range numbers', async () => {
  const f = await files()
  await assert.rejects(
    internals.saveModels(
      fakeEffects(),
      { local_roots: ['models', '/a/../etc', '/ok\nx'], load_timeout_s: 5, max_upload_mb: 1.5 },
      f.config,
    ),
    (err) =>
      /"models" is not valid/.test(err.message) &&
      /must not contain "\.\."/.test(err.message) &&
      /Load timeout must be a whole number from 10 to 86400/.test(err.message) &&
      /Upload limit must be a whole number from 1 to 10240/.test(err.message),
  )
})

test('Access writes allowed host names and refuses anything else', async () => {
  const f = await files()
  await internals.saveAccess(
    fakeEffects(),
    { allowed_hosts: ['spark.example.org', '*.lan.example', 'spark.example.org'], trusted_proxies: [] },
    f.config,
  )
  assert.deepEqual(f.read('config.yaml').server.allowed_hosts, ['spark.example.org', '*.lan.example'])
  await assert.rejects(
    internals.saveAccess(fakeEffects(), { allowed_hosts: ['evil host', 'a/b'], trusted_proxies: [] }, f.config),
    /Allowed host names: "evil host" is not valid/,
  )
})

test('Access writes trusted proxies the app accepts and refuses anything else', async () => {
  const f = await files()
  assert.deepEqual(f.read('config.yaml').server.trusted_proxies, ['127.0.0.0/8', '::1', '10.0.3.1'])
  await internals.saveAccess(
    fakeEffects(),
    { allowed_hosts: [], trusted_proxies: ['10.0.3.1', ' 192.168.1.0/24 ', 'fd00::/8', '10.0.0.7/8'] },
    f.config,
  )
  const server = f.read('config.yaml').server
  assert.deepEqual(server.trusted_proxies, ['10.0.3.1', '192.168.1.0/24', 'fd00::/8', '10.0.0.7/8'])
  assert.deepEqual(server.allowed_hosts, [])
  const bad = ['10.0.0.256', '1.2.3.4/33', '::1/129', 'fe80::1::2', '::::', '10.0.0.1/', 'host.lan', '10.0.\u00001']
  await assert.rejects(
    internals.saveAccess(fakeEffects(), { allowed_hosts: [], trusted_proxies: bad }, f.config),
    (err) => bad.every((entry) => err.message.includes(JSON.stringify(entry.trim()))),
  )
  assert.deepEqual(f.read('config.yaml').server.trusted_proxies, server.trusted_proxies, 'nothing written')
  // An empty list is what the user asked for: no proxy is trusted.
  await internals.saveAccess(fakeEffects(), { allowed_hosts: [], trusted_proxies: [] }, f.config)
  assert.deepEqual(f.read('config.yaml').server.trusted_proxies, [])
})

test('a new API key is shown once and only its SHA-256 is stored; revoking removes it', async () => {
  const f = await files()
  const { name, key } = await internals.createApiKey(
    fakeEffects(),
    { name: 'cron-nightly', scope: 'operate' },
    f.config,
  )
  assert.equal(name, 'cron-nightly')
  assert.match(key, /^sck_[A-Za-z0-9_-]{43}$/)
  const text = readFileSync(join(f.d, 'config.yaml'), 'utf-8')
  assert.ok(!text.includes(key.slice(4)), 'the key itself is never written')
  assert.deepEqual(YAML.parse(text).server.api_keys, [
    { name: 'cron-nightly', key_sha256: internals.sha256(key), scope: 'operate' },
  ])
  await assert.rejects(
    internals.createApiKey(fakeEffects(), { name: 'cron-nightly', scope: 'read' }, f.config),
    /exists already/,
  )
  await assert.rejects(
    internals.createApiKey(fakeEffects(), { name: 'x y', scope: 'root' }, f.config),
    (err) => /key name must be/.test(err.message) && /scope must be one of read, operate, admin/.test(err.message),
  )
  const second = await internals.createApiKey(fakeEffects(), { name: 'webui', scope: 'read' }, f.config)
  assert.notEqual(second.key, key)
  assert.deepEqual(await internals.revokeApiKey(fakeEffects(), { name: 'cron-nightly' }, f.config), {
    name: 'cron-nightly',
    left: 1,
  })
  assert.deepEqual(f.read('config.yaml').server.api_keys.map((k) => k.name), ['webui'])
  await assert.rejects(
    internals.revokeApiKey(fakeEffects(), { name: 'cron-nightly' }, f.config),
    /No API key is named "cron-nightly"/,
  )
})

test('API keys, Swap behaviour and Access are offered; Revoke only once a key exists', async () => {
  const exported = []
  await bundle.actions.init(fakeEffects(exported))
  const visibility = (id) => exported.find((a) => a.id === id).metadata.visibility
  for (const id of ['create-api-key', 'swap-behaviour', 'access']) {
    assert.equal(visibility(id), 'enabled', id)
  }
  // Outside a running service no config is read: no key exists, so there is nothing to revoke.
  assert.deepEqual(visibility('revoke-api-key'), { disabled: 'No API key exists.' })
})

test('Swap behaviour saves swap: and watchdog: whole, keeping every other setting', async () => {
  const f = await files()
  const seeded = f.read('config.yaml')
  assert.deepEqual(seeded.swap, {
    drain_timeout_s: 30,
    hold_timeout_s: 600,
    hold_max_requests: 256,
    on_failure: 'rollback',
    on_request: false,
    min_dwell_s: 300,
  })
  assert.deepEqual(seeded.watchdog, {
    enabled: true,
    grace_s: 10,
    max_restarts: 3,
    window_s: 600,
    backoff_s: 10,
  })
  await internals.saveSwapBehaviour(
    fakeEffects(),
    {
      drain_timeout_s: 0,
      hold_timeout_s: 120,
      hold_max_requests: null,
      on_failure: 'stay_stopped',
      on_request: true,
      min_dwell_s: 900,
      watchdog_enabled: true,
      watchdog_grace_s: 30,
      watchdog_max_restarts: 5,
      watchdog_window_s: 3600,
      watchdog_backoff_s: null,
      restart_during_swap: true,
    },
    f.config,
  )
  const saved = f.read('config.yaml')
  assert.deepEqual(saved.swap, {
    drain_timeout_s: 0,
    hold_timeout_s: 120,
    hold_max_requests: 256,
    on_failure: 'stay_stopped',
    on_request: true,
    min_dwell_s: 900,
  })
  assert.deepEqual(saved.watchdog, {
    enabled: true,
    grace_s: 30,
    max_restarts: 5,
    window_s: 3600,
    backoff_s: 10,
  })
  assert.deepEqual(saved.sparks, seeded.sparks)
  assert.deepEqual(saved.server, seeded.server)
  await assert.rejects(
    internals.saveSwapBehaviour(
      fakeEffects(),
      { watchdog_max_restarts: 0, watchdog_window_s: 0, watchdog_backoff_s: 3601, restart_during_swap: true },
      f.config,
    ),
    (err) =>
      /Watchdog restarts must be a whole number from 1 to 100/.test(err.message) &&
      /Watchdog window must be a whole number from 1 to 86400/.test(err.message) &&
      /Watchdog backoff must be a whole number from 0 to 3600/.test(err.message),
  )
  assert.deepEqual(f.read('config.yaml').watchdog, saved.watchdog, 'a refused form writes nothing')
})

test('Swap behaviour validates every field and writes swap: and watchdog: under the contract names', () => {
  const settings = internals.validateSwapBehaviour({
    drain_timeout_s: 45,
    hold_timeout_s: null,
    hold_max_requests: 10,
    on_failure: 'stay_stopped',
    on_request: true,
    min_dwell_s: 0,
    watchdog_enabled: false,
    watchdog_grace_s: 20,
    watchdog_max_restarts: 2,
  })
  const next = internals.applySwapBehaviour(internals.configShape.parse({}), settings)
  assert.deepEqual(next.swap, {
    drain_timeout_s: 45,
    hold_timeout_s: 600,
    hold_max_requests: 10,
    on_failure: 'stay_stopped',
    on_request: true,
    min_dwell_s: 0,
  })
  assert.deepEqual(next.watchdog, {
    enabled: false,
    grace_s: 20,
    max_restarts: 2,
    window_s: 600,
    backoff_s: 10,
  })
  assert.throws(
    () => internals.validateSwapBehaviour({ drain_timeout_s: -1, on_failure: 'explode' }),
    (err) => /Drain timeout must be/.test(err.message) && /rollback" or "stay_stopped/.test(err.message),
  )
})

test('a save that would restart the app is refused while a swap runs, unless the user says so', async () => {
  const swapping = statusBody({
    swap: { job_id: 'ab12cd34', model_key: 'qwen3-32b', state: 'running', phase: 'loading' },
    lock: { held: true, holder: 'openclaw' },
  })
  const app = await fakeApp({ '/api/status': { body: swapping } })
  const status = (timeout) => internals.fetchStatus(timeout, app.base)
  try {
    await assert.rejects(
      internals.refuseDuringSwap({ restart_during_swap: false }, status),
      (err) =>
        err.message.startsWith('Nothing was saved:') &&
        err.message.includes('A swap to qwen3-32b is running (loading)') &&
        err.message.includes('releases the swap lock held by openclaw') &&
        err.message.includes('Save even if a swap is running'),
    )
    await internals.refuseDuringSwap({ restart_during_swap: true }, status)
  } finally {
    await app.close()
  }
  const idle = await fakeApp({ '/api/status': { body: statusBody() } })
  try {
    await internals.refuseDuringSwap({}, (t) => internals.fetchStatus(t, idle.base))
  } finally {
    await idle.close()
  }
  // A stopped app has no swap to interrupt.
  await internals.refuseDuringSwap({}, (t) => internals.fetchStatus(t, 'http://127.0.0.1:9'))
})

test('Test Sparks shows every Spark and enabled service from the deep health check', async () => {
  const app = await fakeApp({
    '/api/health/deep': {
      body: {
        ok: false,
        checked_at: '2026-06-17T12:00:00+00:00',
        sparks: [
          { name: 'spark1', host: '10.0.0.1', role: 'head', reachable: true, detail: 'ok' },
          { name: 'spark2', host: '10.0.0.2', role: 'worker', reachable: false, detail: 'Permission denied (publickey)' },
        ],
        services: [
          { key: 'vllm', name: 'vLLM', state: 'up', detail: '' },
          { key: 'kokoro', name: 'Kokoro TTS', state: 'disabled', detail: 'disabled in the config' },
          { key: 'qdrant', name: 'Qdrant', state: 'down', detail: 'connection refused' },
        ],
      },
    },
  })
  try {
    const result = await internals.testSparksNow(app.base)
    assert.equal(result.title, '2 problems found')
    assert.match(result.message, /^1 of 2 Sparks reachable over SSH; 1 of 2 enabled services up\./)
    const [sparks, services] = result.result.value
    assert.deepEqual(
      sparks.value.map((m) => [m.name, m.value]),
      [
        ['spark1 (10.0.0.1)', 'reachable: ok'],
        ['spark2 (10.0.0.2)', 'unreachable: Permission denied (publickey)'],
      ],
    )
    assert.deepEqual(
      services.value.map((m) => [m.name, m.value]),
      [
        ['vLLM', 'up'],
        ['Qdrant', 'down: connection refused'],
      ],
    )
  } finally {
    await app.close()
  }
  await assert.rejects(internals.testSparksNow('http://127.0.0.1:9'), /not answering/)
})

test('Regenerate SSH key deletes both halves of the pair, so the app makes a new one', async () => {
  const d = dir()
  const key = join(d, 'id_ed25519')
  writeFileSync(key, 'PRIVATE')
  writeFileSync(`${key}.pub`, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG spark-control\n')
  assert.equal(await internals.deleteKeyPair(key), true)
  assert.throws(() => readFileSync(key), /ENOENT/)
  assert.throws(() => readFileSync(`${key}.pub`), /ENOENT/)
  assert.equal(await internals.deleteKeyPair(key), false)
})
