import type { T } from '@start9labs/start-sdk'
import { type Config, configFile } from '../fileModels/config.yaml'
import { sdk } from '../sdk'
import { LIMITS, type ModelsSettings, settingsPatterns, validateModels } from '../settingsValidation'
import { RESTART_WARNING, restartAnyway, saveSettings } from './restartGuard'
import { i18n } from '../i18n'

const { InputSpec, Value, List } = sdk

export const inputSpec = InputSpec.of({
  local_roots: Value.list(
    List.text(
      {
        name: 'Local model directories',
        description:
          'Directories on the Sparks under which models added by path (local_path) may live, e.g. /home/nvidia/models. A model outside all of them is refused.',
        default: [],
        maxLength: LIMITS.localRoots,
      },
      {
        placeholder: '/home/nvidia/models',
        patterns: [{ regex: settingsPatterns.localRoot, description: 'An absolute path' }],
      },
    ),
  ),
  load_timeout_s: Value.number({
    name: 'Load timeout (seconds)',
    description: `How long a model may take to load before its swap fails. Blank: ${LIMITS.loadTimeout.default}.`,
    required: false,
    default: null,
    integer: true,
    min: LIMITS.loadTimeout.min,
    max: LIMITS.loadTimeout.max,
    placeholder: String(LIMITS.loadTimeout.default),
  }),
  max_upload_mb: Value.number({
    name: 'Upload limit (MB)',
    description: `The largest request body the proxy accepts, e.g. an audio file to transcribe. Blank: ${LIMITS.uploadMb.default}.`,
    required: false,
    default: null,
    integer: true,
    min: LIMITS.uploadMb.min,
    max: LIMITS.uploadMb.max,
    placeholder: String(LIMITS.uploadMb.default),
  }),
  restart_during_swap: restartAnyway,
})

export function applyModels(current: Config, settings: ModelsSettings): Config {
  return {
    ...current,
    models: { ...current.models, local_roots: settings.local_roots },
    vllm: { ...current.vllm, load_timeout_s: settings.load_timeout_s },
    limits: { ...current.limits, max_upload_mb: settings.max_upload_mb },
  }
}

export function saveModels(effects: T.Effects, input: unknown, file = configFile) {
  return saveSettings(effects, input, validateModels, applyModels, file)
}

export const models = sdk.Action.withInput(
  'models',
  async () => ({
    name: i18n('Models'),
    description:
      i18n('Where models added by path may live on the Sparks, how long a model may take to load, and the largest upload the proxy accepts.'),
    warning: RESTART_WARNING,
    allowedStatuses: 'any',
    group: 'Settings',
    visibility: 'enabled',
  }),
  inputSpec,
  async () => {
    const config = await configFile.read().once()
    if (!config) return null
    return {
      local_roots: config.models.local_roots,
      load_timeout_s: config.vllm.load_timeout_s,
      max_upload_mb: config.limits.max_upload_mb,
    }
  },
  async ({ effects, input }) => {
    const saved = await saveModels(effects, input)
    return {
      version: '1' as const,
      title: 'Model settings saved',
      message: `Load timeout ${saved.load_timeout_s} s, upload limit ${saved.max_upload_mb} MB, ${saved.local_roots.length} local model director${saved.local_roots.length === 1 ? 'y' : 'ies'}. Spark Control restarts with the new settings.`,
      result: null,
    }
  },
)
