/**
 * How swaps behave: draining, holding requests for the incoming model, what happens after a
 * failure, swap on request, and the watchdog (config `swap:` and `watchdog:`, shared CONFIG.md;
 * docs/SWAPS.md describes what each does).
 */
import type { T } from '@start9labs/start-sdk'
import {
  type Config,
  configFile,
  SWAP_DEFAULTS,
  WATCHDOG_DEFAULTS,
} from '../fileModels/config.yaml'
import { sdk } from '../sdk'
import { type SwapBehaviour, validateSwapBehaviour } from '../settingsValidation'
import { RESTART_WARNING, restartAnyway, saveSettings } from './restartGuard'
import { i18n } from '../i18n'

const { InputSpec, Value } = sdk

const seconds = (name: string, description: string, fallback: number, max: number) =>
  Value.number({
    name,
    description: `${description} Blank: ${fallback}.`,
    required: false,
    default: null,
    integer: true,
    min: 0,
    max,
    placeholder: String(fallback),
  })

export const inputSpec = InputSpec.of({
  drain_timeout_s: seconds(
    'Drain timeout (seconds)',
    'How long a swap waits for requests in flight to finish before stopping the running model.',
    SWAP_DEFAULTS.drain_timeout_s,
    3600,
  ),
  hold_timeout_s: seconds(
    'Hold timeout (seconds)',
    'How long a request for the incoming model is held during a swap before it gets 503.',
    SWAP_DEFAULTS.hold_timeout_s,
    86400,
  ),
  hold_max_requests: Value.number({
    name: 'Held requests',
    description: `How many requests may wait for the incoming model at once. Blank: ${SWAP_DEFAULTS.hold_max_requests}.`,
    required: false,
    default: null,
    integer: true,
    min: 0,
    max: 100000,
    placeholder: String(SWAP_DEFAULTS.hold_max_requests),
  }),
  on_failure: Value.select({
    name: 'After a failed swap',
    description: 'Start the previous model again, or leave the cluster stopped.',
    values: { rollback: 'Roll back to the previous model', stay_stopped: 'Stay stopped' },
    default: SWAP_DEFAULTS.on_failure,
  }),
  on_request: Value.toggle({
    name: 'Swap on request',
    description:
      'When a /v1 request names a catalog model that is not running, swap to it (respecting the swap lock and the minimum time between swaps).',
    default: SWAP_DEFAULTS.on_request,
  }),
  min_dwell_s: seconds(
    'Minimum time between swaps (seconds)',
    'Swaps on request wait at least this long after the previous swap.',
    SWAP_DEFAULTS.min_dwell_s,
    86400,
  ),
  watchdog_enabled: Value.toggle({
    name: 'Watchdog',
    description: 'Launch the served model again when it dies after it was ready.',
    default: WATCHDOG_DEFAULTS.enabled,
  }),
  watchdog_grace_s: seconds(
    'Watchdog grace period (seconds)',
    'How long a model whose vLLM still runs but does not answer may stay down before the watchdog launches it again. One that exited or crashed is launched again at once.',
    WATCHDOG_DEFAULTS.grace_s,
    3600,
  ),
  watchdog_max_restarts: Value.number({
    name: 'Watchdog restarts',
    description: `How many times the watchdog launches the model again within the window below before it gives up. Blank: ${WATCHDOG_DEFAULTS.max_restarts}.`,
    required: false,
    default: null,
    integer: true,
    min: 1,
    max: 100,
    placeholder: String(WATCHDOG_DEFAULTS.max_restarts),
  }),
  watchdog_window_s: Value.number({
    name: 'Watchdog window (seconds)',
    description: `The period the restarts above are counted in. Blank: ${WATCHDOG_DEFAULTS.window_s}.`,
    required: false,
    default: null,
    integer: true,
    min: 1,
    max: 86400,
    placeholder: String(WATCHDOG_DEFAULTS.window_s),
  }),
  watchdog_backoff_s: seconds(
    'Watchdog backoff (seconds)',
    'How long the watchdog waits before its first relaunch; each next one waits twice as long.',
    WATCHDOG_DEFAULTS.backoff_s,
    3600,
  ),
  restart_during_swap: restartAnyway,
})

export function applySwapBehaviour(current: Config, settings: SwapBehaviour): Config {
  return { ...current, swap: settings.swap, watchdog: settings.watchdog }
}

export function saveSwapBehaviour(effects: T.Effects, input: unknown, file = configFile) {
  return saveSettings(effects, input, validateSwapBehaviour, applySwapBehaviour, file)
}

export const swapBehaviour = sdk.Action.withInput(
  'swap-behaviour',
  async () => ({
    name: i18n('Swap behaviour'),
    description:
      i18n('Draining and holding requests during a swap, what happens after a failed swap, swapping on request, and the watchdog.'),
    warning: RESTART_WARNING,
    allowedStatuses: 'any',
    group: 'Settings',
    visibility: 'enabled',
  }),
  inputSpec,
  async () => {
    const config = await configFile.read().once()
    const swap = config?.swap ?? SWAP_DEFAULTS
    const watchdog = config?.watchdog ?? WATCHDOG_DEFAULTS
    // The form takes whole seconds; a hand-written fraction is shown rounded.
    const whole = (n: number) => Math.round(n)
    return {
      drain_timeout_s: whole(swap.drain_timeout_s),
      hold_timeout_s: whole(swap.hold_timeout_s),
      hold_max_requests: swap.hold_max_requests,
      on_failure: swap.on_failure,
      on_request: swap.on_request,
      min_dwell_s: whole(swap.min_dwell_s),
      watchdog_enabled: watchdog.enabled,
      watchdog_grace_s: whole(watchdog.grace_s),
      watchdog_max_restarts: watchdog.max_restarts,
      watchdog_window_s: Math.max(1, whole(watchdog.window_s)),
      watchdog_backoff_s: whole(watchdog.backoff_s),
    }
  },
  async ({ effects, input }) => {
    const saved = await saveSwapBehaviour(effects, input)
    return {
      version: '1' as const,
      title: 'Swap behaviour saved',
      message: `After a failed swap: ${saved.swap.on_failure === 'rollback' ? 'roll back' : 'stay stopped'}; swap on request ${saved.swap.on_request ? 'on' : 'off'}; watchdog ${saved.watchdog.enabled ? 'on' : 'off'}. Spark Control restarts with the new settings.`,
      result: null,
    }
  },
)
