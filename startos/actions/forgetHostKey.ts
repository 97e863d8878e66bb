import type { T } from '@start9labs/start-sdk'
import { configFile, type Config } from '../fileModels/config.yaml'
import { forgetHostKey as removeEntries } from '../knownHosts'
import { sdk } from '../sdk'
import { volumePathOf } from '../utils'
import { InvalidInput, patterns } from '../validation'
import { i18n } from '../i18n'

const { InputSpec, Value } = sdk

export const inputSpec = InputSpec.of({
  spark: Value.dynamicSelect(async ({ effects }) => {
    const sparks = (await configFile.read((c) => c.sparks).const(effects)) ?? []
    return {
      name: 'Spark',
      description: 'The Spark whose pinned host key Spark Control should forget.',
      values: Object.fromEntries(sparks.map((s) => [s.name, `${s.name} (${s.host})`])),
      default: sparks[0]?.name ?? '',
      disabled: sparks.length === 0 ? 'No Spark is configured yet' : false,
    }
  }),
})

type Result = T.ActionResult & { version: '1' }

const NOTHING_CHANGED = 'No host key was forgotten:'

/**
 * The handler: re-checks the chosen Spark against `config`, then removes its entries from the
 * known_hosts file. Refused input throws before the file is touched.
 */
export async function forgetSparkHostKey(config: Config | null, input: unknown): Promise<Result> {
  const name =
    typeof input === 'object' && input !== null
      ? (input as Record<string, unknown>).spark
      : undefined
  if (typeof name !== 'string' || !new RegExp(patterns.sparkName).test(name)) {
    throw new InvalidInput(['Choose one of the configured Sparks.'], NOTHING_CHANGED)
  }
  const spark = config?.sparks.find((s) => s.name === name)
  if (!spark) throw new InvalidInput([`No Spark named "${name}" is configured.`], NOTHING_CHANGED)
  const path = volumePathOf(config?.ssh.known_hosts ?? '/data/ssh/known_hosts')
  if (path === null) {
    throw new Error('The known_hosts file is not on the data volume, so it cannot be edited here.')
  }
  const removed = await removeEntries(path, spark.host, spark.ssh_port)
  return {
    version: '1',
    title: removed > 0 ? 'Host key forgotten' : 'Nothing to forget',
    message:
      removed > 0
        ? `Removed ${removed} pinned host key${removed === 1 ? '' : 's'} of ${spark.name} (${spark.host}). At its next connection Spark Control trusts the key ${spark.name} presents and pins it again.`
        : `No pinned host key of ${spark.name} (${spark.host}) was found. Spark Control pins it at its next connection.`,
    result: null,
  }
}

export const forgetHostKey = sdk.Action.withInput(
  'forget-host-key',
  async ({ effects }) => {
    const count = (await configFile.read((c) => c.sparks.length).const(effects)) ?? 0
    return {
      name: i18n('Forget a Spark\'s host key'),
      description:
        i18n('After you reinstall a Spark its SSH host key changes and Spark Control refuses to connect. This removes the old pinned key so the new one is trusted at the next connection.'),
      warning:
        i18n('Only do this when you know why the host key changed: a changed key can also mean another machine is answering at that address.'),
      allowedStatuses: 'any',
      group: 'Sparks',
      visibility:
        count > 0
          ? 'enabled'
          : { disabled: 'No Spark is configured yet: run Configure Sparks first.' },
    }
  },
  inputSpec,
  async () => null,
  async ({ input }) => forgetSparkHostKey(await configFile.read().once(), input),
)
