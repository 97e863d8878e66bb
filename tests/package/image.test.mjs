// The Dockerfile and the lock file it installs from (no Docker engine is needed to check them).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { bundle, internals, root } from './helpers.mjs'

const read = (path) => readFileSync(join(root, path), 'utf-8')

/** The Dockerfile's instructions, continuation lines joined and comments dropped, per stage. */
function stages() {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
  const result = []
  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/)
    const entry = { instruction: instruction.toUpperCase(), args: rest.join(' ') }
    if (entry.instruction === 'FROM') result.push([entry])
    else if (result.length > 0) result.at(-1).push(entry)
  }
  return result
}

test('the final stage runs as the unprivileged user the daemon uses', () => {
  const final = stages().at(-1)
  const users = final.filter((e) => e.instruction === 'USER').map((e) => e.args)
  assert.ok(users.length > 0, 'the final stage sets USER')
  const user = users.at(-1)
  assert.doesNotMatch(user, /^(root|0)(:|$)/)
  assert.equal(user, internals.appUser)
  const created = final.some(
    (e) =>
      e.instruction === 'RUN' && e.args.includes(`useradd`) && e.args.includes(internals.appUser),
  )
  assert.ok(created, 'the final stage creates the user')
})

test('the image builds for both architectures the manifest declares', () => {
  const all = stages()
  assert.ok(all.length >= 2, 'a multi-stage build')
  for (const stage of all) {
    assert.ok(
      stage.some((e) => e.instruction === 'ARG' && e.args === 'ARCH'),
      `${stage[0].args} takes ARCH`,
    )
  }
  const text = read('Dockerfile')
  for (const arch of bundle.manifest.images.main.arch)
    assert.ok(text.includes(arch), `Dockerfile knows ${arch}`)
  assert.match(text, /^ARG PYTHON_IMAGE=python:3\.11-slim$/m)
  for (const stage of all) assert.match(stage[0].args, /^\$\{PYTHON_IMAGE\}/)
})

test('dependencies come only from the hash-pinned lock, as wheels, and no compiler is installed', () => {
  const text = read('Dockerfile')
  assert.match(
    text,
    /pip install --require-hashes --only-binary=:all: -r \/tmp\/requirements\.lock/,
  )
  assert.doesNotMatch(text, /\b(gcc|g\+\+|build-essential|python3-dev|apt-get install)\b/)
  const final = stages().at(-1)
  assert.ok(
    !final.some((e) => e.instruction === 'RUN' && /pip install/.test(e.args)),
    'nothing is pip-installed in the final stage',
  )
  assert.ok(
    final.some((e) => e.instruction === 'COPY' && e.args === '--from=deps /opt/venv /opt/venv'),
  )
})

test("the image's source label is the manifest's repository", () => {
  const label = /org\.opencontainers\.image\.source="([^"]+)"/.exec(read('Dockerfile'))
  assert.equal(label?.[1], bundle.manifest.packageRepo)
})

test('the image starts the app the way main.ts does', () => {
  const final = stages().at(-1)
  const cmd = JSON.parse(final.find((e) => e.instruction === 'CMD').args)
  assert.deepEqual(cmd, internals.appCommand)
  assert.ok(final.some((e) => e.instruction === 'EXPOSE' && e.args === String(internals.uiPort)))
})

test('requirements.lock pins every package with hashes', () => {
  const entries = read('requirements.lock')
    .split(/\n(?=\S)/)
    .filter((e) => /^[a-z0-9]/i.test(e))
  assert.ok(entries.length > 10)
  for (const entry of entries) {
    assert.match(entry, /^[A-Za-z0-9._-]+==[^\s;]+/, 'pinned with ==')
    assert.match(entry, /--hash=sha256:[0-9a-f]{64}/, `${entry.split(' ')[0]} has hashes`)
  }
})

test('the build context holds only the lock file and the app', () => {
  const rules = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
  assert.equal(rules[0], '*')
  assert.ok(rules.includes('!requirements.lock'))
  assert.ok(rules.includes('!app/'))
})
