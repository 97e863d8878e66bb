// The health checks StartOS shows beside readiness, read from a real HTTP answer of /api/status.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fakeApp, statusBody } from './appserver.mjs'
import { internals } from './helpers.mjs'

const { fetchStatus, sparksHealth, dataVolumeHealth, settingsHealth } = internals

/** Each check's answer for one /api/status body served over HTTP. */
async function checks(body, status = 200) {
  const app = await fakeApp({ '/api/status': { status, body } })
  try {
    const answer = await fetchStatus(2000, app.base)
    return {
      sparks: sparksHealth(answer),
      volume: dataVolumeHealth(answer),
      settings: settingsHealth(answer),
    }
  } finally {
    await app.close()
  }
}

test('all green when every Spark is reachable, the volume writable and no warning', async () => {
  const { sparks, volume, settings } = await checks(statusBody())
  assert.deepEqual(sparks, { result: 'success', message: '2 of 2 Sparks reachable over SSH' })
  assert.equal(volume.result, 'success')
  assert.equal(settings.result, 'success')
})

test('Sparks goes red with how many are reachable and the first failure', async () => {
  const body = statusBody()
  body.sparks[1] = { ...body.sparks[1], reachable: false, detail: 'Permission denied (publickey)' }
  const { sparks } = await checks(body)
  assert.deepEqual(sparks, {
    result: 'failure',
    message: '1 of 2 Sparks reachable. spark2 (192.168.1.51): Permission denied (publickey)',
  })
})

test('Sparks is starting until the first probe, and red with no Spark configured', async () => {
  const body = statusBody()
  for (const s of body.sparks) s.reachable = null
  assert.equal((await checks(body)).sparks.result, 'starting')
  const none = statusBody({ configured: false, sparks: [] })
  assert.deepEqual((await checks(none)).sparks, {
    result: 'failure',
    message: 'No Spark is configured: run Configure Sparks.',
  })
})

test('Data volume goes red with the first problem and how many more', async () => {
  const body = statusBody({
    data_volume: {
      writable: false,
      problems: [
        'cannot write /data/ssh/known_hosts: no write permission on /data/ssh (it belongs to uid 0; Spark Control runs as uid 1000)',
        'cannot write /data/models-overrides.yaml: no write permission on /data',
      ],
    },
  })
  const { volume } = await checks(body)
  assert.equal(volume.result, 'failure')
  assert.match(volume.message, /^cannot write \/data\/ssh\/known_hosts: .*uid 0.* \(and 1 more\)\./)
})

test('an app that does not report its data volume is not taken as writable', async () => {
  const body = statusBody()
  delete body.data_volume
  assert.equal((await checks(body)).volume.result, 'failure')
})

test('Settings surfaces config warnings, but not "no Sparks" (the Sparks check says that)', async () => {
  const warnings = [
    "vllm.port 'abc' is not a number in 1-65535; using 8888.",
    'vllm.container is blank; using vllm_node.',
  ]
  const { settings } = await checks(statusBody({ warnings }))
  assert.deepEqual(settings, { result: 'failure', message: `${warnings[0]} (and 1 more)` })
  const onlyNoSparks = await checks(statusBody({ warnings: [internals.NO_SPARKS_WARNING] }))
  assert.equal(onlyNoSparks.settings.result, 'success')
})

test('an error answer or a body that is not JSON turns every check red with the reason', async () => {
  const broken = await checks(statusBody(), 500)
  for (const result of Object.values(broken)) {
    assert.deepEqual(result, {
      result: 'failure',
      message: 'Spark Control answered /api/status with HTTP 500',
    })
  }
  const garbage = await checks('<html>', 200)
  assert.match(garbage.sparks.message, /not a JSON object/)
})
