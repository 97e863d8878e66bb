/** Runs the app's deep health check now (every Spark over SSH, every service) and shows it. */
import type { T } from '@start9labs/start-sdk'
import { appUrl, getJson } from '../appApi'
import { sdk } from '../sdk'
import { i18n } from '../i18n'

type Result = T.ActionResult & { version: '1' }
type Member = T.ActionResultMember
type Fields = Record<string, unknown>

const record = (value: unknown): Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : {}
const list = (value: unknown): Fields[] => (Array.isArray(value) ? value.map(record) : [])
const text = (value: unknown) => (typeof value === 'string' ? value : '')

const line = (name: string, value: string, description: string | null = null): Member => ({
  type: 'single',
  name,
  description,
  value,
  copyable: false,
  qr: false,
  masked: false,
})

/** The action's answer for one `/api/health/deep` body. */
export function deepHealthResult(body: Fields): Result {
  const sparks = list(body.sparks)
  const services = list(body.services).filter((s) => s.state !== 'disabled')
  const badSparks = sparks.filter((s) => s.reachable !== true)
  const badServices = services.filter((s) => s.state !== 'up')
  const sparkLines = sparks.map((s) =>
    line(
      `${text(s.name)} (${text(s.host)})`,
      s.reachable === true ? `reachable: ${text(s.detail) || 'ok'}` : `unreachable: ${text(s.detail)}`,
      s.role === 'head' ? 'The head: vLLM serves its API here.' : null,
    ),
  )
  const serviceLines = services.map((s) =>
    line(text(s.name) || text(s.key), `${text(s.state)}${text(s.detail) ? `: ${text(s.detail)}` : ''}`),
  )
  const problems = badSparks.length + badServices.length
  return {
    version: '1',
    title: problems === 0 ? 'Every Spark and service answers' : `${problems} problem${problems === 1 ? '' : 's'} found`,
    message:
      sparks.length === 0
        ? 'No Spark is configured: run Configure Sparks.'
        : `${sparks.length - badSparks.length} of ${sparks.length} Sparks reachable over SSH; ${services.length - badServices.length} of ${services.length} enabled services up. instructions.md's troubleshooting section explains the usual causes.`,
    result: {
      type: 'group',
      value: [
        { type: 'group', name: i18n('Sparks'), description: null, value: sparkLines },
        { type: 'group', name: i18n('Services'), description: null, value: serviceLines },
      ],
    },
  }
}

export async function testSparksNow(base: string = appUrl): Promise<Result> {
  // Every probe is bounded by the app's probe timeout; this bounds the whole answer.
  const answer = await getJson('/api/health/deep', 60_000, base)
  if (!answer.ok) throw new Error(answer.reason)
  return deepHealthResult(answer.body)
}

export const testSparks = sdk.Action.withoutInput(
  'test-sparks',
  async () => ({
    name: i18n('Test Sparks'),
    description:
      i18n('Log in to every Spark over SSH and probe every service now, and show what answered and what did not.'),
    warning: null,
    allowedStatuses: 'only-running',
    group: 'Sparks',
    visibility: 'enabled',
  }),
  async () => testSparksNow(),
)
