// Shared by the package tests: the built bundle, the repository root and a stand-in for the
// StartOS effects object with just what the SDK's action and file helpers touch.
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(import.meta.url)

const bundlePath = join(root, 'javascript', 'index.js')
if (!existsSync(bundlePath)) {
  throw new Error('javascript/index.js is missing: run `make check-package` (it builds the bundle)')
}

/** javascript/index.js, exactly as start-cli and StartOS load it. */
export const bundle = require(bundlePath)
export const { internals } = bundle

/** The `yaml` package the SDK itself uses, resolved from the SDK so hoisting cannot matter. */
export const YAML = createRequire(require.resolve('@start9labs/start-sdk'))('yaml')

/**
 * A stand-in for StartOS's effects. Outside a running service there is no context: reactive reads
 * (`.const()`) see no file, as on a fresh install. Exported action metadata lands in `exported`.
 */
export function fakeEffects(exported = []) {
  const effects = {
    eventId: 'package-test',
    isInContext: false,
    constRetry: undefined,
    exported,
    child: () => fakeEffects(exported),
    onLeaveContext: () => undefined,
    action: {
      export: async (entry) => {
        exported.push(entry)
        return null
      },
      clear: async () => null,
    },
  }
  return effects
}

/** A complete, valid Configure Sparks form; `patch` replaces parts of it. */
export function validForm(patch = {}) {
  return {
    sparks: [
      {
        name: 'spark1',
        host: '192.168.1.50',
        ssh_port: 22,
        ssh_user: 'nvidia',
        cluster_address: '192.168.100.10',
      },
      { name: 'spark2', host: 'spark2.lan', ssh_port: 2222, ssh_user: 'ops', cluster_address: null },
    ],
    services: {
      disabled: ['kokoro'],
      ssh_users: { parakeet: 'asr', kokoro: null, embeddings: null, qdrant: 'qdrant' },
    },
    vllm: {
      port: 8000,
      container: 'vllm-gemma4',
      image: 'vllm-node:25.09',
      launch_dir: '/opt/spark-vllm-docker',
      hf_token: 'hf_exampletoken',
    },
    webhook: { url: 'https://hooks.lan/spark', secret: 's3cret' },
    restart_during_swap: false,
    ...patch,
  }
}
