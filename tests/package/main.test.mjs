// What StartOS runs: the daemon chain from `main` and the interface from `setInterfaces`.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { bundle, fakeEffects, internals } from './helpers.mjs'

/** The recorded (not yet started) daemon chain that `main` returns. */
async function chain() {
  const daemons = await bundle.main({ effects: fakeEffects() })
  return Object.fromEntries(daemons.entries.map((entry) => [entry.id, entry]))
}

test('the app runs as the unprivileged user with the documented command line', async () => {
  const { primary } = await chain()
  assert.equal(primary.kind, 'daemon')
  assert.deepEqual(primary.exec.command, [
    'python',
    '-m',
    'app',
    '--config',
    '/data/config.yaml',
    '--host',
    '0.0.0.0',
    '--port',
    '9999',
  ])
  assert.equal(primary.exec.user, 'sparkctl')
  assert.equal(primary.exec.env.HOME, '/home/sparkctl')
  assert.equal(primary.subcontainer.imageId, 'main')
  assert.deepEqual(primary.subcontainer.mounts.build(), [
    {
      mountpoint: '/data',
      options: {
        type: 'volume',
        volumeId: 'main',
        subpath: null,
        readonly: false,
        filetype: 'directory',
        idmap: [],
      },
    },
  ])
})

test('a one-shot gives the app its data volume first, without following symlinks', async () => {
  const { 'data-ownership': oneshot, primary } = await chain()
  assert.equal(oneshot.kind, 'oneshot')
  assert.deepEqual(oneshot.exec, {
    command: ['chown', '-R', '-h', 'sparkctl:sparkctl', '/data'],
    user: 'root',
  })
  assert.deepEqual(primary.requires, ['data-ownership'])
})

test('readiness is the app answering /api/health', async () => {
  const { primary } = await chain()
  assert.equal(primary.ready.display, 'Dashboard and API')
  // Nothing listens on 9999 in the test: the check must fail with a reason, not throw.
  const answer = await primary.ready.fn()
  assert.equal(answer.result, 'failure')
  assert.match(answer.message, /not answering/)
})

async function exportedInterfaces() {
  const calls = []
  const effects = { ...fakeEffects() }
  for (const name of [
    'bind',
    'exportServiceInterface',
    'clearBindings',
    'clearServiceInterfaces',
  ]) {
    effects[name] = async (params) => {
      calls.push([name, params])
      return null
    }
  }
  await internals.setInterfaces(effects)
  return calls
}

test('a ui interface for the dashboard and an api interface, both on port 9999', async () => {
  const calls = await exportedInterfaces()
  const binds = calls.filter(([name]) => name === 'bind').map(([, p]) => p)
  assert.deepEqual(
    binds.map((b) => b.internalPort),
    [9999],
  )
  const exported = calls.filter(([name]) => name === 'exportServiceInterface').map(([, p]) => p)
  assert.deepEqual(
    exported.map((i) => [i.id, i.type, i.name, i.masked]),
    [
      ['ui', 'ui', 'Dashboard', false],
      ['api', 'api', 'API', false],
    ],
  )
  for (const i of exported) {
    assert.deepEqual([i.addressInfo.internalPort, i.addressInfo.scheme], [9999, 'http'])
  }
  const api = exported[1]
  assert.match(api.description, /\/api\//)
  assert.match(api.description, /\/v1\//)
})

test('the api interface says whether an API key is needed', () => {
  const { apiDescription } = internals
  assert.match(apiDescription(0), /No API key is set.*before attaching a public domain/)
  assert.match(apiDescription(2), /Every request needs an API key: Authorization: Bearer/)
})

test('health checks beside readiness: Sparks, Data volume and Settings, after the app is up', async () => {
  const entries = await chain()
  for (const [id, display] of [
    ['sparks', 'Sparks'],
    ['data-volume', 'Data volume'],
    ['settings', 'Settings'],
  ]) {
    const check = entries[id]
    assert.equal(check.kind, 'health', id)
    assert.equal(check.ready.display, display)
    assert.deepEqual(check.requires, ['primary'])
    // Nothing answers on 9999 here: each goes red with the reason, never throws.
    const answer = await check.ready.fn()
    assert.equal(answer.result, 'failure')
    assert.match(answer.message, /not answering/)
  }
})
