/**
 * Forgetting a Spark's pinned SSH host key: the entries for that Spark are removed from the
 * app's known_hosts file (OpenSSH format), so the next connection trusts the Spark's current key
 * on first use and pins it again. Used after a Spark is reinstalled and its host key changed.
 */
import { createHmac } from 'node:crypto'
import { chown, open, rename, stat, unlink } from 'node:fs/promises'

/** The names a known_hosts line uses for `host` on `port`, as OpenSSH writes them. */
export function hostNames(host: string, port: number): string[] {
  const bracketed = `[${host}]:${port}`
  return port === 22 ? [host, bracketed] : [bracketed]
}

/** Whether one host pattern of a known_hosts line names one of `names` (plain or hashed). */
function patternNames(pattern: string, names: string[]): boolean {
  if (pattern.startsWith('|1|')) {
    // Hashed entry: |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
    const [, , salt, digest] = pattern.split('|')
    if (!salt || !digest) return false
    const key = Buffer.from(salt, 'base64')
    return names.some((name) => createHmac('sha1', key).update(name).digest('base64') === digest)
  }
  return names.some((name) => name.toLowerCase() === pattern.toLowerCase())
}

/**
 * `text` without the entries for `host` on `port`, and how many were removed.
 *
 * A line naming several hosts keeps its other names. `@revoked` and `@cert-authority` lines are
 * kept: forgetting a pin must never lift a revocation or a CA trust the owner set up.
 * Comments, blank lines and lines it cannot parse are kept as they are.
 */
export function withoutHostEntries(
  text: string,
  host: string,
  port: number,
): { text: string; removed: number } {
  const names = hostNames(host, port)
  let removed = 0
  const kept: string[] = []
  for (const line of text.split('\n')) {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('@')) {
      kept.push(line)
      continue
    }
    const match = /^(\S+)(\s+.*)$/.exec(trimmed)
    if (!match) {
      kept.push(line)
      continue
    }
    const hostPatterns = match[1].split(',')
    const others = hostPatterns.filter((pattern) => !patternNames(pattern, names))
    if (others.length === hostPatterns.length) {
      kept.push(line)
    } else {
      removed += 1
      if (others.length > 0) kept.push(`${others.join(',')}${match[2]}`)
    }
  }
  return { text: kept.join('\n'), removed }
}

/**
 * Removes the entries for `host` on `port` from the known_hosts file at `path`.
 *
 * The file is replaced atomically (temp file, fsync, rename) and keeps its owner and mode, so the
 * app, which runs unprivileged, can still update it. A missing file has nothing to forget: 0.
 */
export async function forgetHostKey(path: string, host: string, port: number): Promise<number> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw err
  }
  const handle = await open(path, 'r')
  let original: string
  try {
    original = await handle.readFile({ encoding: 'utf-8' })
  } finally {
    await handle.close()
  }
  const { text, removed } = withoutHostEntries(original, host, port)
  if (removed === 0) return 0

  const temp = `${path}.forget-${process.pid}`
  const out = await open(temp, 'w', info.mode & 0o777)
  try {
    await out.writeFile(text, { encoding: 'utf-8' })
    await out.sync()
  } catch (err) {
    await out.close()
    await unlink(temp).catch(() => undefined)
    throw err
  }
  await out.close()
  await chown(temp, info.uid, info.gid).catch(() => undefined)
  await rename(temp, path)
  return removed
}
