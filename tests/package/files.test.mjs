// The config file model, the known_hosts editor and the readiness check.
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fakeEffects, internals, validForm, YAML } from './helpers.mjs'

const tempDir = () => mkdtempSync(join(tmpdir(), 'sc-files-'))

test('merging nothing seeds a complete config with every default', async () => {
  const file = internals.configFile.withPath(join(tempDir(), 'config.yaml'))
  await file.merge(fakeEffects(), {})
  const seeded = YAML.parse(readFileSync(file.path, 'utf-8'))
  assert.deepEqual(seeded, {
    sparks: [],
    ssh: { key_file: '/data/ssh/id_ed25519', known_hosts: '/data/ssh/known_hosts' },
    vllm: {
      port: 8888,
      container: 'vllm_node',
      image: 'vllm-node',
      launch_dir: '~/spark-vllm-docker',
      hf_home: '~/.cache/huggingface',
      load_timeout_s: 1800,
      hf_token: '',
      hf_endpoint: 'https://huggingface.co',
    },
    services: { disabled: [], overrides_file: '/data/services-overrides.yaml', ssh_users: {} },
    webhook: { url: '', secret: '', events: ['swap_complete', 'swap_failed'], retries: 0 },
    models: {
      catalog_file: '',
      overrides_file: '/data/models-overrides.yaml',
      local_roots: ['/home/nvidia/models'],
    },
    limits: { max_upload_mb: 200 },
    server: { allowed_hosts: [], trusted_proxies: ['127.0.0.0/8', '::1', '10.0.3.1'], api_keys: [] },
    storage: { database: '/data/spark-control.db', history_days: 90, gpu_days: 7 },
    swap: {
      drain_timeout_s: 30,
      hold_timeout_s: 600,
      hold_max_requests: 256,
      on_failure: 'rollback',
      on_request: false,
      min_dwell_s: 300,
    },
    watchdog: { enabled: true, grace_s: 10, max_restarts: 3, window_s: 600, backoff_s: 10 },
  })
})

test('a file from before the newer settings gains them, keeping what it had', async () => {
  const path = join(tempDir(), 'config.yaml')
  writeFileSync(
    path,
    'sparks: [{name: spark1, host: 10.0.0.1, ssh_port: 22, ssh_user: nvidia}]\n' +
      'webhook: {url: "https://hooks.lan/x", secret: s}\n' +
      'server: {allowed_hosts: [spark.example.org]}\n',
  )
  const file = internals.configFile.withPath(path)
  await file.merge(fakeEffects(), {})
  const merged = YAML.parse(readFileSync(path, 'utf-8'))
  assert.equal(merged.sparks[0].host, '10.0.0.1')
  assert.deepEqual(merged.webhook, {
    url: 'https://hooks.lan/x',
    secret: 's',
    events: ['swap_complete', 'swap_failed'],
    retries: 0,
  })
  assert.deepEqual(merged.server, {
    allowed_hosts: ['spark.example.org'],
    trusted_proxies: ['127.0.0.0/8', '::1', '10.0.3.1'],
    api_keys: [],
  })
  assert.equal(merged.watchdog.max_restarts, 3)
})

test('Configure Sparks keeps the webhook events and retries it does not show', async () => {
  const path = join(tempDir(), 'config.yaml')
  writeFileSync(path, 'webhook: {url: "", secret: "", events: [model_crashed, lock_expired], retries: 3}\n')
  const file = internals.configFile.withPath(path)
  await internals.saveSparkSettings(fakeEffects(), validForm(), file)
  assert.deepEqual(YAML.parse(readFileSync(path, 'utf-8')).webhook, {
    url: 'https://hooks.lan/spark',
    secret: 's3cret',
    events: ['model_crashed', 'lock_expired'],
    retries: 3,
  })
})

test('merging again leaves a complete file untouched', async () => {
  const file = internals.configFile.withPath(join(tempDir(), 'config.yaml'))
  await file.merge(fakeEffects(), {})
  const before = statSync(file.path).mtimeMs
  const text = readFileSync(file.path, 'utf-8')
  await new Promise((resolve) => setTimeout(resolve, 20))
  await file.merge(fakeEffects(), {})
  assert.equal(readFileSync(file.path, 'utf-8'), text)
  assert.equal(statSync(file.path).mtimeMs, before)
})

test('strings YAML 1.1 would read as booleans or numbers are quoted', async () => {
  // PyYAML, the app's reader, takes unquoted on/yes/no as booleans and 1:20 as a number.
  const file = internals.configFile.withPath(join(tempDir(), 'config.yaml'))
  await internals.saveSparkSettings(
    fakeEffects(),
    validForm({
      sparks: [
        { name: 'on', host: '1:20', ssh_port: 22, ssh_user: 'y' },
        { name: 'no', host: '0777', ssh_port: 22, ssh_user: 'nvidia' },
      ],
      vllm: { port: null, container: 'yes', image: null, launch_dir: '~', hf_token: null },
    }),
    file,
  )
  const text = readFileSync(file.path, 'utf-8')
  for (const word of ['"on"', '"1:20"', '"no"', '"0777"', '"yes"', '"~"']) {
    assert.ok(text.includes(word), `${word} is quoted in:\n${text}`)
  }
})

const hashed = (name, salt = randomBytes(20)) =>
  `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`

test("forgetting a host key removes exactly that Spark's entries", () => {
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld'
  const text = [
    '# pinned by Spark Control',
    `10.0.0.2 ${key}`,
    `[10.0.0.2]:22 ${key}`,
    `[10.0.0.2]:2222 ${key}`,
    `10.0.0.20 ${key}`,
    `spark1.lan,10.0.0.2 ${key}`,
    `${hashed('10.0.0.2')} ${key}`,
    `${hashed('10.0.0.3')} ${key}`,
    `@revoked 10.0.0.2 ${key}`,
    '',
  ].join('\n')
  const { text: kept, removed } = internals.withoutHostEntries(text, '10.0.0.2', 22)
  assert.equal(removed, 4)
  assert.deepEqual(kept.split('\n'), [
    '# pinned by Spark Control',
    `[10.0.0.2]:2222 ${key}`,
    `10.0.0.20 ${key}`,
    `spark1.lan ${key}`,
    text.split('\n')[7],
    `@revoked 10.0.0.2 ${key}`,
    '',
  ])
  const other = internals.withoutHostEntries(text, '10.0.0.2', 2222)
  assert.equal(other.removed, 1)
  assert.ok(other.text.includes(`10.0.0.2 ${key}`), 'the port-22 entry stays')
})

test('forgetting rewrites known_hosts in place with its mode, and tolerates a missing file', async () => {
  const dir = tempDir()
  const path = join(dir, 'known_hosts')
  assert.equal(await internals.forgetHostKey(path, 'spark2.lan', 22), 0)
  writeFileSync(path, 'spark2.lan ssh-ed25519 AAAA\nspark1.lan ssh-ed25519 BBBB\n')
  chmodSync(path, 0o600)
  assert.equal(await internals.forgetHostKey(path, 'spark2.lan', 22), 1)
  assert.equal(readFileSync(path, 'utf-8'), 'spark1.lan ssh-ed25519 BBBB\n')
  assert.equal(statSync(path).mode & 0o777, 0o600)
  assert.equal(await internals.forgetHostKey(path, 'spark2.lan', 22), 0)
})

test("Forget a Spark's host key uses the Spark's configured host and port", () => {
  assert.deepEqual(internals.hostNames('spark1.lan', 22), ['spark1.lan', '[spark1.lan]:22'])
  assert.deepEqual(internals.hostNames('10.0.0.2', 2222), ['[10.0.0.2]:2222'])
})

/** A server on 127.0.0.1 that answers /api/health with `status` and `body`. */
async function healthServer(status, body) {
  const server = createServer((req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${server.address().port}/api/health`
  return { url, close: () => new Promise((resolve) => server.close(resolve)) }
}

test('the readiness check passes only on 200 {"status": "ok"}', async (t) => {
  const cases = [
    [200, { status: 'ok', version: '0.25.0' }, 'success', /Spark Control 0\.25\.0 is ready/],
    [500, { detail: 'boom' }, 'failure', /HTTP 500/],
    [200, { status: 'starting' }, 'failure', /status "starting"/],
    [200, 'not json', 'failure', /did not answer with JSON/],
  ]
  for (const [status, body, result, message] of cases) {
    const server = await healthServer(status, body)
    t.after(server.close)
    const answer = await internals.checkApiHealth(server.url)
    assert.equal(answer.result, result, JSON.stringify(body))
    assert.match(answer.message, message)
  }
})

test('the readiness check fails fast when nothing listens or the app hangs', async (t) => {
  const closed = await healthServer(200, {})
  await closed.close()
  const refused = await internals.checkApiHealth(closed.url, 1000)
  assert.deepEqual(refused, {
    result: 'failure',
    message: 'The dashboard and API are not answering yet',
  })

  const hanging = createServer(() => undefined)
  await new Promise((resolve) => hanging.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    hanging.closeAllConnections()
    return new Promise((resolve) => hanging.close(resolve))
  })
  const started = Date.now()
  const timedOut = await internals.checkApiHealth(
    `http://127.0.0.1:${hanging.address().port}/api/health`,
    200,
  )
  assert.equal(timedOut.result, 'failure')
  assert.ok(Date.now() - started < 5000)
})
