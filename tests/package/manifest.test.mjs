// The manifest StartOS gets (from the built bundle) and the files that must agree with it.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { bundle, fakeEffects, root, YAML } from './helpers.mjs'

const { manifest } = bundle
const read = (path) => readFileSync(join(root, path), 'utf-8')

/** The manifest exactly as start-cli reads it: JSON from `require('javascript/index.js')`. */
function packedManifest() {
  const out = execFileSync(
    process.execPath,
    ['-e', "console.log(JSON.stringify(require('./javascript/index.js').manifest))"],
    { cwd: root, encoding: 'utf-8' },
  )
  return JSON.parse(out)
}

async function exportedActions() {
  const exported = []
  await bundle.actions.init(fakeEffects(exported))
  return exported
}

test('the manifest names the package, its version and its license', () => {
  const m = packedManifest()
  assert.equal(m.id, 'spark-control')
  assert.equal(m.title, 'Spark Control')
  assert.equal(m.version, '0.25.0:0')
  assert.equal(m.license, 'MIT')
  assert.match(m.releaseNotes.en_US, /^First release\./, 'the notes describe this first release')
  for (const [lang, text] of Object.entries(m.description.short)) {
    assert.ok(text.length <= 80, `${lang}: the short description fits the marketplace list`)
  }
  for (const [lang, text] of Object.entries(m.description.long)) {
    assert.ok(text.length <= 500, `${lang}: the long description fits the details page`)
  }
  assert.deepEqual(m.volumes, ['main'])
  assert.deepEqual(m.dependencies, {})
})

test('the repository links are real and the same everywhere', () => {
  const m = packedManifest()
  for (const key of ['packageRepo', 'upstreamRepo', 'marketingUrl']) {
    assert.match(m[key], /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+$/, key)
    assert.equal(m[key], m.packageRepo, `${key} matches packageRepo`)
  }
  for (const file of [
    'manifest.yaml',
    'instructions.md',
    'Dockerfile',
    'startos/manifest/index.ts',
  ]) {
    assert.doesNotMatch(read(file), /example\.(com|org)/, `${file} has no placeholder URL`)
  }
})

test('the image is built from the Dockerfile for x86_64 and aarch64, never emulated', () => {
  const m = packedManifest()
  assert.deepEqual(Object.keys(m.images), ['main'])
  const image = m.images.main
  assert.deepEqual(image.source, { dockerBuild: { workdir: '.', dockerfile: 'Dockerfile' } })
  assert.deepEqual(image.arch, ['x86_64', 'aarch64'])
  assert.equal(image.emulateMissingAs, null)
  assert.deepEqual(m.hardwareRequirements.arch, ['x86_64', 'aarch64'])
})

test('s9pk.mk finds exactly the package id in startos/manifest/index.ts', () => {
  // The same awk program s9pk.mk runs to name the .s9pk files.
  const out = execFileSync('awk', ['-F', "'", '/id:/ {print $2}', 'startos/manifest/index.ts'], {
    cwd: root,
    encoding: 'utf-8',
  })
  assert.equal(out, 'spark-control\n')
})

test('manifest.yaml is the card of the package: 0.4 manifest fields, each equal to the bundle', () => {
  const record = YAML.parse(read('manifest.yaml'))
  const built = packedManifest()
  for (const key of [
    'id',
    'title',
    'version',
    'license',
    'packageRepo',
    'upstreamRepo',
    'marketingUrl',
    'donationUrl',
    'description',
    'releaseNotes',
    'images',
    'volumes',
    'dependencies',
  ]) {
    assert.ok(key in record, `manifest.yaml has ${key}`)
  }
  for (const [key, value] of Object.entries(record)) {
    assert.ok(key in built, `manifest.yaml: ${key} is not a field of the 0.4 manifest`)
    assert.deepEqual(key === 'version' ? String(value) : value, built[key], `manifest.yaml ${key}`)
  }
})

test('the manifest texts ship in English and at least one more language', () => {
  const m = packedManifest()
  for (const text of [m.description.short, m.description.long, m.releaseNotes]) {
    assert.ok(text.en_US, 'English')
    assert.ok(Object.keys(text).length >= 2, 'another language')
    assert.deepEqual(Object.keys(text), Object.keys(m.description.short), 'the same languages')
  }
})

test('the upstream version is the Python project version', () => {
  const upstream = manifest.version.split(':')[0]
  assert.match(
    read('pyproject.toml'),
    new RegExp(`^version = "${upstream.replaceAll('.', '\\.')}"$`, 'm'),
  )
  assert.match(
    read('app/__init__.py'),
    new RegExp(`__version__ = "${upstream.replaceAll('.', '\\.')}"`),
  )
})

test('LICENSE is the MIT license the manifest declares', () => {
  assert.match(read('LICENSE'), /^MIT License\n/)
  assert.match(read('pyproject.toml'), /^license = "MIT"$/m)
})

test('start-cli finds exactly one icon and one license at the top level', () => {
  // `s9pk pack` takes the one top-level file named icon.* and the one named license.*.
  const stems = readdirSync(root).map((name) => name.split('.')[0].toLowerCase())
  assert.equal(stems.filter((stem) => stem === 'icon').length, 1)
  assert.equal(stems.filter((stem) => stem === 'license').length, 1)
})

test('the icon is a single SVG under the 40 KiB limit', () => {
  const size = statSync(join(root, 'icon.svg')).size
  assert.ok(size > 0 && size <= 40 * 1024, `icon.svg is ${size} bytes`)
  assert.match(read('icon.svg'), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
})

test('instructions.md has only valid links and covers every action', async () => {
  const text = read('instructions.md')
  const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1])
  for (const link of links) {
    if (link.startsWith('#')) {
      const anchors = [...text.matchAll(/^#+ (.+)$/gm)].map((m) =>
        m[1]
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      )
      assert.ok(anchors.includes(link.slice(1)), `the anchor ${link} names a heading`)
      continue
    }
    const url = new URL(link)
    assert.equal(url.protocol, 'https:', `${link} is https`)
    assert.doesNotMatch(url.hostname, /(^|\.)example\.(com|org)$|localhost/, `${link} is real`)
  }
  for (const { metadata } of await exportedActions()) {
    assert.ok(text.includes(metadata.name), `instructions mention "${metadata.name}"`)
  }
  for (const needle of [
    'authorized_keys',
    '/api/swap/lock',
    'X-Swap-Lock-Token',
    'X-Spark-Signature',
    '/api/schedule',
    'build-and-copy.sh -c',
    'Permission denied (publickey)',
    'nvidia-smi',
  ]) {
    assert.ok(text.includes(needle), `instructions explain ${needle}`)
  }
})
