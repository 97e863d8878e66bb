// The actions as StartOS sees them: their list, their forms, and their handlers' checks.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { bundle, fakeEffects, internals, validForm, YAML } from './helpers.mjs'

const configureSparks = () => bundle.actions.get('configure-sparks')

/** Runs an action the way StartOS does: fetch the form (getInput), then submit it (run). */
async function submit(actionId, input) {
  const action = bundle.actions.get(actionId)
  const effects = fakeEffects()
  await action.getInput({ effects, prefill: null })
  return action.run({ effects, input })
}

const tempConfig = () =>
  internals.configFile.withPath(join(mkdtempSync(join(tmpdir(), 'sc-')), 'config.yaml'))

test('every action, in order and grouped; only Test Sparks needs the service running', async () => {
  const exported = []
  await bundle.actions.init(fakeEffects(exported))
  assert.deepEqual(
    exported.map(({ id, metadata }) => [id, metadata.name, metadata.group, metadata.hasInput]),
    [
      ['configure-sparks', 'Configure Sparks', null, true],
      ['show-ssh-public-key', 'Show SSH public key', 'Sparks', false],
      ['test-sparks', 'Test Sparks', 'Sparks', false],
      ['regenerate-ssh-key', 'Regenerate SSH key', 'Sparks', true],
      ['forget-host-key', "Forget a Spark's host key", 'Sparks', true],
      ['services', 'Services', 'Settings', true],
      ['models', 'Models', 'Settings', true],
      ['swap-behaviour', 'Swap behaviour', 'Settings', true],
      ['access', 'Access', 'Access', true],
      ['create-api-key', 'Create API key', 'Access', true],
      ['revoke-api-key', 'Revoke API key', 'Access', true],
    ],
  )
  for (const { id, metadata } of exported) {
    assert.equal(metadata.allowedStatuses, id === 'test-sparks' ? 'only-running' : 'any', id)
  }
  const forget = exported.find((a) => a.id === 'forget-host-key').metadata
  assert.deepEqual(forget.visibility, {
    disabled: 'No Spark is configured yet: run Configure Sparks first.',
  })
  assert.ok(forget.warning, 'forgetting a host key warns first')
})

test('every action that restarts the app warns first and asks before interrupting a swap', async () => {
  const exported = []
  await bundle.actions.init(fakeEffects(exported))
  const restarting = [
    'configure-sparks',
    'regenerate-ssh-key',
    'services',
    'models',
    'swap-behaviour',
    'access',
    'create-api-key',
    'revoke-api-key',
  ]
  for (const id of restarting) {
    const { metadata } = exported.find((a) => a.id === id)
    assert.match(metadata.warning, /restarts/, `${id} warns that it restarts Spark Control`)
    assert.match(metadata.warning, /swap/, `${id} says what a restart does to a swap`)
    const { spec } = await bundle.actions.get(id).getInput({ effects: fakeEffects(), prefill: null })
    assert.equal(Object.keys(spec).at(-1), 'restart_during_swap', `${id} asks last`)
    assert.equal(spec.restart_during_swap.type, 'toggle')
    assert.equal(spec.restart_during_swap.default, false)
  }
})

test('Configure Sparks asks for every Spark setting', async () => {
  const { spec } = await configureSparks().getInput({ effects: fakeEffects(), prefill: null })
  assert.deepEqual(Object.keys(spec), [
    'sparks',
    'services',
    'vllm',
    'webhook',
    'restart_during_swap',
  ])

  assert.equal(spec.sparks.type, 'list')
  const spark = spec.sparks.spec
  assert.equal(spark.uniqueBy, 'name')
  assert.deepEqual(Object.keys(spark.spec), [
    'name',
    'host',
    'ssh_port',
    'ssh_user',
    'cluster_address',
  ])
  const link = spark.spec.cluster_address
  assert.deepEqual([link.required, link.default], [false, null], 'empty means the SSH address')
  assert.equal(link.name, 'Cluster-link address')
  assert.match(link.description, /ConnectX cluster link/)
  assert.match(link.description, /leave empty to use the SSH address/)
  assert.equal(link.patterns[0].regex, internals.patterns.host)
  assert.deepEqual(
    [spark.spec.ssh_port.min, spark.spec.ssh_port.max, spark.spec.ssh_port.integer],
    [1, 65535, true],
  )
  assert.equal(spark.spec.ssh_port.default, 22)
  assert.equal(spark.spec.ssh_user.default, 'nvidia')
  assert.equal(spark.spec.name.patterns[0].regex, internals.patterns.sparkName)

  const services = spec.services.spec
  assert.equal(services.disabled.type, 'multiselect')
  assert.deepEqual(Object.keys(services.disabled.values), [
    'vllm',
    'parakeet',
    'kokoro',
    'embeddings',
    'qdrant',
  ])
  assert.deepEqual(services.disabled.default, [])
  assert.deepEqual(Object.keys(services.ssh_users.spec), [
    'parakeet',
    'kokoro',
    'embeddings',
    'qdrant',
  ])
  for (const field of Object.values(services.ssh_users.spec)) {
    assert.equal(field.required, false, "a blank per-service user means the Spark's user")
  }

  const vllm = spec.vllm.spec
  assert.deepEqual(Object.keys(vllm), ['port', 'container', 'image', 'launch_dir', 'hf_token'])
  assert.deepEqual(
    [vllm.port.required, vllm.port.default, vllm.port.placeholder],
    [false, null, '8888'],
  )
  assert.deepEqual([vllm.container.required, vllm.container.placeholder], [false, 'vllm_node'])

  const webhook = spec.webhook.spec
  assert.equal(webhook.url.required, false)
  assert.equal(webhook.secret.masked, true, 'the webhook secret is masked')
  assert.equal(vllm.hf_token.masked, true, 'the Hugging Face token is masked')
  assert.equal(webhook.secret.required, false)
})

const refusals = [
  [
    'a host with a space',
    { sparks: [{ name: 'spark1', host: 'bad host', ssh_port: 22, ssh_user: 'nvidia', cluster_address: null }] },
    /host "bad host" is not a hostname/,
  ],
  [
    'a host with shell characters',
    { sparks: [{ name: 'spark1', host: 'a;reboot', ssh_port: 22, ssh_user: 'nvidia', cluster_address: null }] },
    /host "a;reboot"/,
  ],
  [
    'SSH port 70000',
    { sparks: [{ name: 'spark1', host: '10.0.0.2', ssh_port: 70000, ssh_user: 'nvidia', cluster_address: null }] },
    /SSH port 70000 must be a whole number from 1 to 65535/,
  ],
  [
    'SSH port 1.5',
    { sparks: [{ name: 'spark1', host: '10.0.0.2', ssh_port: 1.5, ssh_user: 'nvidia', cluster_address: null }] },
    /SSH port 1\.5 must be a whole number/,
  ],
  [
    'SSH port 0',
    { sparks: [{ name: 'spark1', host: '10.0.0.2', ssh_port: 0, ssh_user: 'nvidia', cluster_address: null }] },
    /SSH port 0/,
  ],
  [
    'an upper-case Spark name',
    { sparks: [{ name: 'Spark1', host: '10.0.0.2', ssh_port: 22, ssh_user: 'nvidia', cluster_address: null }] },
    /name "Spark1" must be 1-32 lowercase/,
  ],
  [
    'a duplicate Spark name',
    {
      sparks: [
        { name: 'a', host: 'h1', ssh_port: 22, ssh_user: 'nvidia', cluster_address: null },
        { name: 'a', host: 'h2', ssh_port: 22, ssh_user: 'nvidia', cluster_address: null },
      ],
    },
    /"a" is used twice/,
  ],
  [
    'a cluster-link address with a space',
    {
      sparks: [
        { name: 'spark1', host: '10.0.0.2', ssh_port: 22, ssh_user: 'nvidia', cluster_address: 'a b' },
      ],
    },
    /Spark 1 \("spark1"\) cluster-link address "a b" is not a hostname or an IP address/,
  ],
  [
    'a cluster-link address with shell characters',
    {
      sparks: [
        {
          name: 'spark1',
          host: '10.0.0.2',
          ssh_port: 22,
          ssh_user: 'nvidia',
          cluster_address: '$(reboot)',
        },
      ],
    },
    /cluster-link address "\$\(reboot\)"/,
  ],
  [
    'a cluster-link address with a newline',
    {
      sparks: [
        {
          name: 'spark1',
          host: '10.0.0.2',
          ssh_port: 22,
          ssh_user: 'nvidia',
          cluster_address: '10.0.0.3\nx',
        },
      ],
    },
    /cluster-link address "10\.0\.0\.3\nx" is not a hostname/,
  ],
  [
    'a cluster-link address listing two addresses',
    {
      sparks: [
        {
          name: 'spark1',
          host: '10.0.0.2',
          ssh_port: 22,
          ssh_user: 'nvidia',
          cluster_address: '10.0.0.3,10.0.0.4',
        },
      ],
    },
    /cluster-link address "10\.0\.0\.3,10\.0\.0\.4"/,
  ],
  [
    'two Sparks with the same cluster-link address',
    {
      sparks: [
        { name: 'a', host: 'h1', ssh_port: 22, ssh_user: 'nvidia', cluster_address: '192.168.100.10' },
        { name: 'b', host: 'h2', ssh_port: 22, ssh_user: 'nvidia', cluster_address: '192.168.100.10' },
      ],
    },
    /Spark 2 \("b"\): the cluster-link address "192\.168\.100\.10" is already the cluster-link address of Spark "a"; each Spark needs its own\./,
  ],
  [
    "a cluster-link address that is another Spark's host",
    {
      sparks: [
        { name: 'a', host: 'h1', ssh_port: 22, ssh_user: 'nvidia', cluster_address: null },
        { name: 'b', host: 'h2', ssh_port: 22, ssh_user: 'nvidia', cluster_address: 'H1' },
      ],
    },
    /Spark 2 \("b"\): the cluster-link address "H1" is already the cluster-link address of Spark "a"/,
  ],
  [
    'a bad SSH user',
    { sparks: [{ name: 'spark1', host: '10.0.0.2', ssh_port: 22, ssh_user: 'root;id', cluster_address: null }] },
    /SSH user "root;id" is not a valid user name/,
  ],
  [
    'vLLM port 70000',
    { vllm: { port: 70000, container: null, image: null, launch_dir: null, hf_token: null } },
    /vLLM port 70000 must be a whole number from 1 to 65535/,
  ],
  [
    'vLLM port 1.5',
    { vllm: { port: 1.5, container: null, image: null, launch_dir: null, hf_token: null } },
    /vLLM port 1\.5/,
  ],
  [
    'container a;b',
    { vllm: { port: null, container: 'a;b', image: null, launch_dir: null, hf_token: null } },
    /container name "a;b" may use only/,
  ],
  [
    'an image with a space',
    { vllm: { port: null, container: null, image: 'vllm node', launch_dir: null, hf_token: null } },
    /image "vllm node" is not a Docker image reference/,
  ],
  [
    'a relative launch directory',
    { vllm: { port: null, container: null, image: null, launch_dir: 'spark-vllm-docker', hf_token: null } },
    /Launch directory "spark-vllm-docker" must be an absolute path/,
  ],
  [
    'webhook URL ftp://x',
    { webhook: { url: 'ftp://x', secret: null } },
    /Swap webhook URL "ftp:\/\/x" must be an http:\/\/ or https:\/\/ address/,
  ],
  [
    'a webhook URL without a host',
    { webhook: { url: 'http://', secret: null } },
    /Swap webhook URL/,
  ],
  [
    'an over-long webhook secret',
    { webhook: { url: null, secret: 'x'.repeat(513) } },
    /Webhook secret is longer than 512/,
  ],
  [
    'a bad per-service SSH user',
    {
      services: {
        disabled: [],
        ssh_users: { parakeet: 'Bad User', kokoro: null, embeddings: null, qdrant: null },
      },
    },
    /SSH user for parakeet "Bad User"/,
  ],
]

for (const [what, patch, message] of refusals) {
  test(`Configure Sparks refuses ${what}, and its handler does too`, async () => {
    const form = validForm(patch)
    // Through StartOS's path (the SDK's own form check, then the handler) ...
    await assert.rejects(submit('configure-sparks', form), message)
    // ... and the handler's own check, which does not rely on the SDK's.
    assert.throws(
      () => internals.validateSparkSettings(form),
      (err) => {
        assert.equal(String(err), `Error: ${err.message}`, 'shown as a plain error')
        assert.ok(err.problems.length >= 1)
        assert.match(err.message, /^Nothing was saved\. Please fix:/)
        assert.match(err.message, message)
        return true
      },
    )
  })
}

test('a refused form writes nothing', async () => {
  const file = tempConfig()
  await file.merge(fakeEffects(), {})
  const before = readFileSync(file.path, 'utf-8')
  await assert.rejects(
    internals.saveSparkSettings(fakeEffects(), validForm({ vllm: { port: 70000 } }), file),
    /vLLM port 70000/,
  )
  assert.equal(readFileSync(file.path, 'utf-8'), before)
})

test('every problem in a form is reported at once', () => {
  const form = validForm({
    sparks: [{ name: 'spark1', host: 'bad host', ssh_port: 70000, ssh_user: 'nvidia', cluster_address: null }],
    vllm: { port: 1.5, container: 'a;b', image: null, launch_dir: null, hf_token: null },
    webhook: { url: 'ftp://x', secret: null },
  })
  assert.throws(
    () => internals.validateSparkSettings(form),
    (err) => err.problems.length === 5,
  )
})

test('a form missing its Sparks or a section is refused, not saved as defaults', () => {
  for (const form of [
    null,
    'x',
    {},
    validForm({ sparks: undefined }),
    validForm({ webhook: null }),
  ]) {
    assert.throws(() => internals.validateSparkSettings(form), /Nothing was saved/)
  }
  const { sparks, ...noSparks } = validForm()
  assert.ok(sparks.length > 0)
  assert.throws(() => internals.validateSparkSettings(noSparks), /The form has no list of Sparks/)
})

test('a cluster-link address is written when given and left out when blank', async () => {
  const file = tempConfig()
  const form = validForm()
  form.sparks[1].cluster_address = '  192.168.100.11 '
  form.sparks.push({ name: 'spark3', host: 'spark3.lan', ssh_port: 22, ssh_user: 'nvidia', cluster_address: '' })
  await internals.saveSparkSettings(fakeEffects(), form, file)
  const saved = YAML.parse(readFileSync(file.path, 'utf-8'))
  assert.deepEqual(
    saved.sparks.map((s) => [s.name, s.cluster_address]),
    [
      ['spark1', '192.168.100.10'],
      ['spark2', '192.168.100.11'],
      ['spark3', undefined],
    ],
  )
  assert.ok(!('cluster_address' in saved.sparks[2]), 'a blank address is not written at all')
  // Hosts alone may repeat (distinct SSH ports); without cluster-link addresses that is no clash.
  const repeated = validForm({
    sparks: [
      { name: 'a', host: 'h1', ssh_port: 22, ssh_user: 'nvidia', cluster_address: null },
      { name: 'b', host: 'h1', ssh_port: 2222, ssh_user: 'nvidia', cluster_address: null },
    ],
  })
  assert.equal(internals.validateSparkSettings(repeated).sparks.length, 2)
})

test('blank optional fields take their documented defaults', () => {
  const settings = internals.validateSparkSettings({
    sparks: [{ name: 'spark1', host: '10.0.0.2', ssh_port: 22, ssh_user: 'nvidia', cluster_address: null }],
    services: {
      disabled: [],
      ssh_users: { parakeet: '  ', kokoro: null, embeddings: null, qdrant: null },
    },
    vllm: { port: null, container: '', image: null, launch_dir: '   ', hf_token: null },
    webhook: { url: '', secret: null },
  })
  assert.deepEqual(settings.vllm, {
    port: 8888,
    container: 'vllm_node',
    image: 'vllm-node',
    launch_dir: '~/spark-vllm-docker',
    hf_token: '',
  })
  assert.deepEqual(settings.services, { disabled: [], ssh_users: {} })
  assert.deepEqual(settings.webhook, { url: '', secret: '' })
})

test('saving keeps what the form does not show, and clears a blanked per-service user', async () => {
  const file = tempConfig()
  const effects = fakeEffects()
  await file.merge(effects, {
    vllm: { load_timeout_s: 3600 },
    limits: { max_upload_mb: 50 },
    services: { disabled: ['vllm-b'], ssh_users: { parakeet: 'old', custom: 'svc' } },
  })
  await internals.saveSparkSettings(effects, validForm(), file)
  const saved = YAML.parse(readFileSync(file.path, 'utf-8'))
  assert.equal(saved.vllm.load_timeout_s, 3600)
  assert.equal(saved.limits.max_upload_mb, 50)
  assert.deepEqual(saved.services.disabled, ['kokoro', 'vllm-b'])
  assert.deepEqual(saved.services.ssh_users, { custom: 'svc', parakeet: 'asr', qdrant: 'qdrant' })

  const blanked = validForm({
    services: {
      disabled: [],
      ssh_users: { parakeet: null, kokoro: null, embeddings: null, qdrant: null },
    },
  })
  await internals.saveSparkSettings(effects, blanked, file)
  const again = YAML.parse(readFileSync(file.path, 'utf-8'))
  assert.deepEqual(again.services.ssh_users, { custom: 'svc' })
  assert.deepEqual(again.services.disabled, ['vllm-b'])
})

test('the form is prefilled from the saved config', async () => {
  const file = tempConfig()
  await internals.saveSparkSettings(fakeEffects(), validForm(), file)
  const values = internals.formValues(await file.read().once())
  assert.deepEqual(values, validForm())
})

test("Forget a Spark's host key refuses a Spark that is not configured", async () => {
  const config = internals.configShape.parse({
    sparks: [{ name: 'spark1', host: '10.0.0.2', ssh_port: 22, ssh_user: 'nvidia', cluster_address: null }],
  })
  await assert.rejects(
    internals.forgetSparkHostKey(config, { spark: 'spark9' }),
    /No Spark named "spark9" is configured/,
  )
  await assert.rejects(
    internals.forgetSparkHostKey(config, { spark: '../etc' }),
    /Choose one of the configured Sparks/,
  )
  await assert.rejects(
    internals.forgetSparkHostKey(null, { spark: 'spark1' }),
    /No Spark named "spark1"/,
  )
  await assert.rejects(
    submit('forget-host-key', { spark: 'spark1' }),
    /^Error: No host key was forgotten:\n- No Spark named "spark1" is configured\.$/,
  )
})

test('Show SSH public key shows the key, copyable, or says it is not generated yet', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sc-key-'))
  const missing = await internals.publicKeyResult(join(dir, 'id_ed25519.pub'))
  assert.equal(missing.result, null)
  assert.match(missing.message, /has not generated its SSH key yet/)

  const key =
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5Zm9yc3Bhcmtjb250cm9sdGVzdHM= spark-control'
  writeFileSync(join(dir, 'id_ed25519.pub'), `${key}\n`)
  const shown = await internals.publicKeyResult(join(dir, 'id_ed25519.pub'))
  assert.deepEqual(shown.result, {
    type: 'single',
    value: key,
    copyable: true,
    qr: false,
    masked: false,
  })
  assert.match(shown.message, /authorized_keys/)

  writeFileSync(join(dir, 'bad.pub'), '-----BEGIN OPENSSH PRIVATE KEY-----\n')
  const bad = await internals.publicKeyResult(join(dir, 'bad.pub'))
  assert.equal(bad.result, null, 'never shows a file that is not a public key')
})

test('the key is read from the data volume where the app writes it', () => {
  assert.equal(
    internals.volumePathOf('/data/ssh/id_ed25519.pub'),
    '/media/startos/volumes/main/ssh/id_ed25519.pub',
  )
  assert.equal(internals.volumePathOf('/data/../etc/shadow'), null)
  assert.equal(internals.volumePathOf('/etc/ssh/id_ed25519.pub'), null)
})
