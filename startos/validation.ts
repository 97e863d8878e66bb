/**
 * The rules of app/config.py, applied again by the action handlers.
 *
 * StartOS checks only types when an action form is submitted: text patterns and number bounds
 * are hints for the form, not enforced. So every handler re-validates here and refuses bad values
 * with one sentence per problem; the app validates the file once more at startup.
 * The pattern strings are app/config.py's own (a test compares them).
 */
import {
  BUILTIN_SERVICES,
  type Config,
  DEFAULT_CONTAINER,
  DEFAULT_IMAGE,
  DEFAULT_LAUNCH_DIR,
  DEFAULT_VLLM_PORT,
  SSH_SERVICES,
  type SparkEntry,
} from './fileModels/config.yaml'

export const patterns = {
  sparkName: '^[a-z0-9][a-z0-9-]{0,31}$',
  serviceKey: '^[a-z0-9][a-z0-9_-]{0,31}$',
  containerName: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$',
  imageRef: '^[a-z0-9][a-z0-9._/:@-]{0,254}$',
  host: '^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252}[A-Za-z0-9])?$',
  sshUser: '^[a-z_][a-z0-9_.-]{0,31}$',
  remoteDir: '^(~|~/[^\\x00-\\x1f\\x7f]*|/[^\\x00-\\x1f\\x7f]*)$',
} as const

const matches = (pattern: string, value: string) => new RegExp(pattern).test(value)

export const WEBHOOK_URL_MAX = 2048
export const WEBHOOK_SECRET_MAX = 512
export const HF_TOKEN_MAX = 512

/** What Configure Sparks writes: its form, checked and with blanks replaced by defaults. */
export type SparkSettings = {
  sparks: SparkEntry[]
  vllm: { port: number; container: string; image: string; launch_dir: string; hf_token: string }
  services: { disabled: string[]; ssh_users: Record<string, string> }
  webhook: { url: string; secret: string }
}

/** Thrown with every problem found, one per line, so the user can fix them all at once. */
export class InvalidInput extends Error {
  constructor(
    readonly problems: string[],
    lead = 'Nothing was saved. Please fix:',
  ) {
    // The name stays "Error": StartOS may show `${error}` to the user, and the message says it all.
    super(`${lead}\n- ${problems.join('\n- ')}`)
  }
}

type Record_ = Record<string, unknown>
const isRecord = (value: unknown): value is Record_ =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** A value as shown in a message, shortened so a pasted blob cannot flood the dialog. */
function shown(value: unknown): string {
  if (typeof value !== 'string') return String(JSON.stringify(value) ?? value).slice(0, 40)
  return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`
}

/** A TCP port: a whole number from 1 to 65535. */
export function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535
}

/** A trimmed string, null when blank or absent; `problems` gets a line when it is not text. */
function optionalText(value: unknown, label: string, problems: string[]): string | null {
  if (value === null || value === undefined) return null
  if (typeof value !== 'string') {
    problems.push(`${label} must be text.`)
    return null
  }
  const trimmed = value.trim()
  return trimmed === '' ? null : trimmed
}

function checkSpark(raw: unknown, index: number, problems: string[]): SparkEntry | null {
  const position = `Spark ${index + 1}`
  if (!isRecord(raw)) {
    problems.push(`${position} is not a Spark entry.`)
    return null
  }
  const name = optionalText(raw.name, `${position} name`, problems)
  const label = name ? `${position} ("${name}")` : position
  const host = optionalText(raw.host, `${label} host`, problems)
  const user = optionalText(raw.ssh_user, `${label} SSH user`, problems)
  const clusterAddress = optionalText(raw.cluster_address, `${label} cluster-link address`, problems)
  let ok = true
  if (name === null) {
    problems.push(`${position} needs a name.`)
    ok = false
  } else if (!matches(patterns.sparkName, name)) {
    problems.push(
      `${position} name ${shown(name)} must be 1-32 lowercase letters, digits or hyphens, starting with a letter or digit.`,
    )
    ok = false
  }
  if (host === null) {
    problems.push(`${label} needs a host (a hostname or an IP address).`)
    ok = false
  } else if (!matches(patterns.host, host)) {
    problems.push(`${label} host ${shown(host)} is not a hostname or an IP address.`)
    ok = false
  }
  if (!isPort(raw.ssh_port)) {
    problems.push(
      `${label} SSH port ${shown(raw.ssh_port)} must be a whole number from 1 to 65535.`,
    )
    ok = false
  }
  if (user === null) {
    problems.push(`${label} needs an SSH user.`)
    ok = false
  } else if (!matches(patterns.sshUser, user)) {
    problems.push(
      `${label} SSH user ${shown(user)} is not a valid user name (lowercase letters, digits, "_", "." or "-", starting with a letter or "_").`,
    )
    ok = false
  }
  if (clusterAddress !== null && !matches(patterns.host, clusterAddress)) {
    problems.push(
      `${label} cluster-link address ${shown(clusterAddress)} is not a hostname or an IP address (or empty to use the host).`,
    )
    ok = false
  }
  if (!ok || name === null || host === null || user === null) return null
  const entry: SparkEntry = { name, host, ssh_port: raw.ssh_port as number, ssh_user: user }
  // Written only when set: absent means "the same as host" to the app.
  if (clusterAddress !== null) entry.cluster_address = clusterAddress
  return entry
}

/** Where the other Sparks reach `spark`: its cluster-link address, else its host. */
const peerAddress = (spark: SparkEntry) => (spark.cluster_address ?? spark.host).toLowerCase()

/**
 * app/config.py's rule: no two Sparks share a cluster-link address (launch-cluster.sh would name
 * one node twice). Only pairs where one has an explicit cluster-link address are compared:
 * hosts alone may repeat, with distinct SSH ports.
 */
function clashingPeer(spark: SparkEntry, earlier: SparkEntry[]): SparkEntry | undefined {
  return earlier.find(
    (other) =>
      (spark.cluster_address !== undefined || other.cluster_address !== undefined) &&
      peerAddress(other) === peerAddress(spark),
  )
}

function checkWebhookUrl(value: unknown, problems: string[]): string {
  const url = optionalText(value, 'Swap webhook URL', problems)
  if (url === null) return ''
  if (url.length > WEBHOOK_URL_MAX) {
    problems.push(`Swap webhook URL is longer than ${WEBHOOK_URL_MAX} characters.`)
    return ''
  }
  let parsed: URL | null = null
  try {
    parsed = /[\s\x00-\x1f\x7f]/.test(url) ? null : new URL(url)
  } catch {
    parsed = null
  }
  if (parsed === null || !['http:', 'https:'].includes(parsed.protocol) || !parsed.hostname) {
    problems.push(
      `Swap webhook URL ${shown(url)} must be an http:// or https:// address (or empty for no webhook).`,
    )
    return ''
  }
  return url
}

/**
 * Checks the Configure Sparks form and returns what to write, or throws {@link InvalidInput}
 * listing every problem. Blank optional fields take their documented defaults.
 */
export function validateSparkSettings(input: unknown): SparkSettings {
  const problems: string[] = []
  // A form missing a section is refused rather than read as "all defaults": saving it would
  // silently drop the Sparks or the webhook the user has.
  const form = isRecord(input) ? input : {}
  const section = (value: unknown, name: string): Record_ => {
    if (isRecord(value)) return value
    problems.push(`The form has no ${name} section.`)
    return {}
  }
  const vllm = section(form.vllm, 'vLLM')
  const services = section(form.services, 'Services')
  const sshUsers = isRecord(services.ssh_users) ? services.ssh_users : {}
  const webhook = section(form.webhook, 'Swap webhook')

  const sparks: SparkEntry[] = []
  const rawSparks = form.sparks
  if (!Array.isArray(rawSparks)) {
    problems.push('The form has no list of Sparks.')
  } else {
    const seen = new Set<string>()
    rawSparks.forEach((raw, index) => {
      const spark = checkSpark(raw, index, problems)
      if (spark === null) return
      if (seen.has(spark.name)) {
        problems.push(
          `Spark ${index + 1}: the name "${spark.name}" is used twice; names must be unique.`,
        )
        return
      }
      seen.add(spark.name)
      const clash = clashingPeer(spark, sparks)
      if (clash !== undefined) {
        problems.push(
          `Spark ${index + 1} ("${spark.name}"): ${spark.cluster_address === undefined ? 'its host' : 'the cluster-link address'} ${shown(spark.cluster_address ?? spark.host)} is already the cluster-link address of Spark "${clash.name}"; each Spark needs its own.`,
        )
        return
      }
      sparks.push(spark)
    })
  }

  let port = DEFAULT_VLLM_PORT
  if (vllm.port !== null && vllm.port !== undefined) {
    if (isPort(vllm.port)) port = vllm.port
    else
      problems.push(
        `vLLM port ${shown(vllm.port)} must be a whole number from 1 to 65535 (or blank for ${DEFAULT_VLLM_PORT}).`,
      )
  }
  const container =
    optionalText(vllm.container, 'vLLM container name', problems) ?? DEFAULT_CONTAINER
  if (!matches(patterns.containerName, container)) {
    problems.push(
      `vLLM container name ${shown(container)} may use only letters, digits, "_", "." and "-" (at most 64, starting with a letter or digit).`,
    )
  }
  const image = optionalText(vllm.image, 'vLLM image', problems) ?? DEFAULT_IMAGE
  if (!matches(patterns.imageRef, image)) {
    problems.push(
      `vLLM image ${shown(image)} is not a Docker image reference (lowercase letters, digits and . _ / : @ -).`,
    )
  }
  const launchDir =
    optionalText(vllm.launch_dir, 'Launch directory', problems) ?? DEFAULT_LAUNCH_DIR
  if (!matches(patterns.remoteDir, launchDir)) {
    problems.push(
      `Launch directory ${shown(launchDir)} must be an absolute path or start with "~/", with no control characters.`,
    )
  }

  let hfToken = ''
  if (vllm.hf_token !== null && vllm.hf_token !== undefined) {
    if (typeof vllm.hf_token !== 'string') problems.push('Hugging Face token must be text.')
    else if (vllm.hf_token.length > HF_TOKEN_MAX)
      problems.push(`Hugging Face token is longer than ${HF_TOKEN_MAX} characters.`)
    else if (/\s/.test(vllm.hf_token)) problems.push('Hugging Face token must not contain spaces.')
    else hfToken = vllm.hf_token
  }

  const disabled: string[] = []
  const rawDisabled = services.disabled ?? []
  if (!Array.isArray(rawDisabled)) {
    problems.push('Disabled services must be a list.')
  } else {
    for (const key of rawDisabled) {
      if (typeof key !== 'string' || !(BUILTIN_SERVICES as readonly string[]).includes(key)) {
        problems.push(`${shown(key)} is not a built-in service (${BUILTIN_SERVICES.join(', ')}).`)
      } else if (!disabled.includes(key)) {
        disabled.push(key)
      }
    }
  }

  const ssh_users: Record<string, string> = {}
  for (const service of SSH_SERVICES) {
    const user = optionalText(sshUsers[service], `SSH user for ${service}`, problems)
    if (user === null) continue
    if (!matches(patterns.sshUser, user)) {
      problems.push(`SSH user for ${service} ${shown(user)} is not a valid user name.`)
    } else {
      ssh_users[service] = user
    }
  }

  const url = checkWebhookUrl(webhook.url, problems)
  let secret = ''
  if (webhook.secret !== null && webhook.secret !== undefined) {
    if (typeof webhook.secret !== 'string') problems.push('Webhook secret must be text.')
    else if (webhook.secret.length > WEBHOOK_SECRET_MAX)
      problems.push(`Webhook secret is longer than ${WEBHOOK_SECRET_MAX} characters.`)
    else secret = webhook.secret
  }

  if (problems.length > 0) throw new InvalidInput(problems)
  return {
    sparks,
    vllm: { port, container, image, launch_dir: launchDir, hf_token: hfToken },
    services: { disabled, ssh_users },
    webhook: { url, secret },
  }
}

/**
 * The whole config with `settings` applied. Everything the form does not show is kept: other
 * sections, and disabled entries or SSH users of services added in services-overrides.yaml.
 */
export function applySparkSettings(current: Config, settings: SparkSettings): Config {
  const builtins: readonly string[] = BUILTIN_SERVICES
  const sshServices: readonly string[] = SSH_SERVICES
  const customDisabled = current.services.disabled.filter(
    (key) => !builtins.includes(key) && matches(patterns.serviceKey, key),
  )
  const customUsers = Object.fromEntries(
    Object.entries(current.services.ssh_users).filter(([key]) => !sshServices.includes(key)),
  )
  return {
    ...current,
    sparks: settings.sparks,
    vllm: { ...current.vllm, ...settings.vllm },
    services: {
      ...current.services,
      disabled: [...settings.services.disabled, ...customDisabled],
      ssh_users: { ...customUsers, ...settings.services.ssh_users },
    },
    // The form edits the URL and the secret; the events and retries stay as they were.
    webhook: { ...current.webhook, ...settings.webhook },
  }
}
