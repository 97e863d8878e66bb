/** Reading the appliance's SSH public key, which the app generates at its first start. */
import { readFile } from 'node:fs/promises'

export type PublicKeyRead =
  | { found: true; key: string }
  | { found: false; reason: 'missing' | 'unreadable' | 'not-a-key' }

const OPENSSH_PUBLIC_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}( [^\r\n]*)?$/

/** The first line of the public key file at `path`, if it holds an OpenSSH public key. */
export async function readPublicKey(path: string): Promise<PublicKeyRead> {
  let text: string
  try {
    text = await readFile(path, { encoding: 'utf-8' })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return { found: false, reason: code === 'ENOENT' ? 'missing' : 'unreadable' }
  }
  const key = text.split('\n')[0].trim()
  if (!OPENSSH_PUBLIC_KEY.test(key)) return { found: false, reason: 'not-a-key' }
  return { found: true, key }
}
