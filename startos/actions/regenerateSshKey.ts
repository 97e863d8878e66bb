/**
 * A new SSH key pair for the appliance: the old pair is deleted and the app, restarted,
 * generates a new one at startup. Every Spark must then trust the new public key instead.
 */
import { rm } from 'node:fs/promises'
import type { T } from '@start9labs/start-sdk'
import { fetchStatus } from '../appApi'
import { configFile } from '../fileModels/config.yaml'
import { sdk } from '../sdk'
import { readPublicKey } from '../sshKey'
import { volumePathOf } from '../utils'
import { refuseDuringSwap, restartAnyway } from './restartGuard'
import { i18n } from '../i18n'

const { InputSpec } = sdk

export const inputSpec = InputSpec.of({ restart_during_swap: restartAnyway })

type Result = T.ActionResult & { version: '1' }

const AUTHORIZED_KEYS_HINT =
  'On every Spark, replace the old line in ~/.ssh/authorized_keys of the SSH user (and of each per-service SSH user) with this one; until then Spark Control cannot log in.'

/** Deletes the key pair at `keyPath` (as the package sees the volume); true if there was one. */
export async function deleteKeyPair(keyPath: string): Promise<boolean> {
  const existed = await readPublicKey(`${keyPath}.pub`)
  await rm(keyPath, { force: true })
  await rm(`${keyPath}.pub`, { force: true })
  return existed.found || existed.reason !== 'missing'
}

/** Waits (bounded) for the restarted app to write its new public key. */
async function newPublicKey(pubPath: string, withinMs: number): Promise<string | null> {
  const deadline = Date.now() + withinMs
  while (Date.now() < deadline) {
    const read = await readPublicKey(pubPath)
    if (read.found) return read.key
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  return null
}

export async function regenerate(effects: T.Effects, input: unknown): Promise<Result> {
  const keyFile = (await configFile.read((c) => c.ssh.key_file).once()) ?? '/data/ssh/id_ed25519'
  const keyPath = volumePathOf(keyFile)
  if (keyPath === null) {
    throw new Error(`The SSH key ${keyFile} is not on the data volume, so it cannot be replaced here.`)
  }
  await refuseDuringSwap(input)
  const running = (await fetchStatus(2000)).ok
  await deleteKeyPair(keyPath)
  if (!running) {
    return {
      version: '1',
      title: 'SSH key deleted',
      message: `Spark Control generates a new key pair when it next starts. Then run Show SSH public key. ${AUTHORIZED_KEYS_HINT}`,
      result: null,
    }
  }
  await effects.restart()
  const key = await newPublicKey(`${keyPath}.pub`, 30_000)
  if (key === null) {
    return {
      version: '1',
      title: 'SSH key deleted',
      message: `Spark Control is restarting and generates its new key pair as it starts (only once a Spark is configured). Run Show SSH public key in a moment. ${AUTHORIZED_KEYS_HINT}`,
      result: null,
    }
  }
  return {
    version: '1',
    title: 'New SSH public key',
    message: AUTHORIZED_KEYS_HINT,
    result: { type: 'single', value: key, copyable: true, qr: false, masked: false },
  }
}

export const regenerateSshKey = sdk.Action.withInput(
  'regenerate-ssh-key',
  async () => ({
    name: i18n('Regenerate SSH key'),
    description:
      i18n('Replace Spark Control\'s SSH key pair with a new one, e.g. after the old private key may have leaked. Every Spark must then be given the new public key.'),
    warning:
      i18n('The current key stops working at once: Spark Control cannot reach any Spark until you put the new public key in authorized_keys on every Spark. Spark Control restarts, so a swap in progress is stopped and the swap lock and schedules are cleared.'),
    allowedStatuses: 'any',
    group: 'Sparks',
    visibility: 'enabled',
  }),
  inputSpec,
  async () => null,
  async ({ effects, input }) => regenerate(effects, input),
)
