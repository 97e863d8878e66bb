import type { T } from '@start9labs/start-sdk'
import { configFile } from '../fileModels/config.yaml'
import { sdk } from '../sdk'
import { readPublicKey } from '../sshKey'
import { volumePathOf } from '../utils'
import { i18n } from '../i18n'

type Result = T.ActionResult & { version: '1' }

/** The action's answer for the public key at `path` (as this package sees the volume). */
export async function publicKeyResult(path: string | null): Promise<Result> {
  const read =
    path === null ? ({ found: false, reason: 'unreadable' } as const) : await readPublicKey(path)
  if (!read.found) {
    const message =
      read.reason === 'missing'
        ? 'Spark Control has not generated its SSH key yet. It creates the key the first time it starts: start the service, wait until it is running, then run this action again.'
        : read.reason === 'not-a-key'
          ? 'The SSH public key file does not hold an OpenSSH public key. Run Regenerate SSH key to give Spark Control a new key pair.'
          : 'The SSH public key file cannot be read from here.'
    return { version: '1', title: 'No SSH public key yet', message, result: null }
  }
  return {
    version: '1',
    title: 'SSH public key',
    message:
      'Add this line to ~/.ssh/authorized_keys of the SSH user on every Spark (and of each per-service SSH user you configured). Spark Control logs in with this key.',
    result: { type: 'single', value: read.key, copyable: true, qr: false, masked: false },
  }
}

export const showSshPublicKey = sdk.Action.withoutInput(
  'show-ssh-public-key',
  async () => ({
    name: i18n('Show SSH public key'),
    description:
      i18n('The public half of Spark Control\'s SSH key, to add to authorized_keys on every Spark.'),
    warning: null,
    allowedStatuses: 'any',
    group: 'Sparks',
    visibility: 'enabled',
  }),
  async () => {
    const keyFile = (await configFile.read((c) => c.ssh.key_file).once()) ?? '/data/ssh/id_ed25519'
    return publicKeyResult(volumePathOf(`${keyFile}.pub`))
  },
)
