/**
 * Saving a setting restarts Spark Control (main reads its files with const()). A restart stops
 * a swap in progress and forgets the swap lock and the registered schedules, which live in
 * memory. So every action that restarts the app refuses while a swap runs, unless the user
 * turned on "Save even if a swap is running" in the same form.
 */
import type { T } from '@start9labs/start-sdk'
import { fetchStatus } from '../appApi'
import { type Config, configFile, configShape } from '../fileModels/config.yaml'
import { sdk } from '../sdk'
import { InvalidInput } from '../validation'
import { i18n } from '../i18n'

export const RESTART_WARNING =
  i18n('Saving restarts Spark Control: a swap in progress is stopped, and the swap lock and the registered schedules (kept in memory) are cleared.')

export const RESTART_ANYWAY_FIELD = 'restart_during_swap'

/** The form field every restarting action carries, last. */
export const restartAnyway = sdk.Value.toggle({
  name: i18n('Save even if a swap is running'),
  description:
    'Off: nothing is saved while a swap is in progress, so the swap can finish. On: save now; the swap is stopped.',
  default: false,
})

/** The status URL's base; tests point it at a stand-in for the app. */
type StatusFetcher = typeof fetchStatus

/**
 * Throws {@link InvalidInput} when a swap is running and `input` does not say to restart anyway.
 * A stopped or unreachable app has no swap to interrupt: nothing is refused then.
 */
export async function refuseDuringSwap(
  input: unknown,
  status: StatusFetcher = fetchStatus,
): Promise<void> {
  const form = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {}
  if (form[RESTART_ANYWAY_FIELD] === true) return
  const answer = await status(2000)
  if (!answer.ok || answer.body.swap === null) return
  const { swap, lock } = answer.body
  const phase = swap.phase ?? swap.state
  const held = lock.held ? `, and releases the swap lock held by ${lock.holder ?? 'someone'}` : ''
  throw new InvalidInput(
    [
      `A swap to ${swap.model_key} is running (${phase}). Saving now restarts Spark Control, which stops that swap${held}.`,
      'Run this action again when the swap has finished, or turn on "Save even if a swap is running".',
    ],
    'Nothing was saved:',
  )
}

/**
 * What every settings action does on submit: validate `input` (throws {@link InvalidInput}),
 * refuse while a swap runs (see {@link refuseDuringSwap}), then rewrite the config file with
 * `apply` on its current content. Returns the validated settings.
 */
export async function saveSettings<S>(
  effects: T.Effects,
  input: unknown,
  validate: (input: unknown) => S,
  apply: (current: Config, settings: S) => Config,
  file: typeof configFile = configFile,
): Promise<S> {
  const settings = validate(input)
  await refuseDuringSwap(input)
  const current = (await file.read().once()) ?? configShape.parse({})
  await file.write(effects, apply(current, settings))
  return settings
}
