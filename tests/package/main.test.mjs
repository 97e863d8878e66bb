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

test('the dashboard and API are one ui interface on port 9999', async () => {
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
  const bind = calls.find(([name]) => name === 'bind')[1]
  assert.equal(bind.internalPort, 9999)
  const exported = calls.filter(([name]) => name === 'exportServiceInterface').map(([, p]) => p)
  assert.equal(exported.length, 1)
  assert.equal(exported[0].id, 'ui')
  assert.equal(exported[0].type, 'ui')
  assert.equal(exported[0].masked, false)
  assert.deepEqual(
    [exported[0].addressInfo.internalPort, exported[0].addressInfo.scheme],
    [9999, 'http'],
  )
})
