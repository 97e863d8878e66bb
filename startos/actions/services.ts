import type { T } from '@start9labs/start-sdk'
import { configFile } from '../fileModels/config.yaml'
import {
  overridesShape,
  SERVICES_OVERRIDES_PATH,
  servicesOverridesFile,
} from '../fileModels/servicesOverrides.yaml'
import { sdk } from '../sdk'
import {
  applyServices,
  PLACED_SERVICES,
  type PlacedService,
  servicePatterns,
  servicesFormValues,
  validateServices,
} from '../servicesSettings'
import { patterns } from '../validation'
import { refuseDuringSwap, RESTART_WARNING, restartAnyway } from './restartGuard'
import { i18n } from '../i18n'

const { InputSpec, Value, List } = sdk

const sparkField = (defaultNode: string) =>
  Value.text({
    name: 'Spark',
    description: `The name of the Spark it runs on (as in Configure Sparks). Blank: ${defaultNode}.`,
    required: false,
    default: null,
    placeholder: defaultNode,
    patterns: [{ regex: patterns.sparkName, description: 'A Spark name from Configure Sparks' }],
  })

const portField = (defaultPort: number | null) =>
  Value.number({
    name: 'Port',
    description:
      defaultPort === null ? 'Its HTTP port on that Spark.' : `Its HTTP port. Blank: ${defaultPort}.`,
    required: false,
    default: null,
    integer: true,
    min: 1,
    max: 65535,
    placeholder: defaultPort === null ? null : String(defaultPort),
  })

const placement = (key: PlacedService) =>
  Value.object(
    { name: PLACED_SERVICES[key].name },
    InputSpec.of({
      node: sparkField(PLACED_SERVICES[key].node),
      port: portField(PLACED_SERVICES[key].port),
    }),
  )

const addedSpec = InputSpec.of({
  key: Value.text({
    name: 'Key',
    description: 'A short identifier, used in the API and the proxy routes.',
    required: true,
    default: null,
    placeholder: 'vllm-b',
    patterns: [
      { regex: patterns.serviceKey, description: '1-32 lowercase letters, digits, "_" or "-"' },
    ],
  }),
  name: Value.text({
    name: 'Name',
    description: 'Shown on its dashboard tile.',
    required: false,
    default: null,
    maxLength: 100,
    placeholder: 'Second vLLM',
  }),
  kind: Value.select({
    name: 'Kind',
    description:
      'vllm: another vLLM server, monitored (its models listed, its health probed) but never swapped. openai: an OpenAI-compatible server. http: any HTTP service. qdrant: a Qdrant database.',
    values: { vllm: 'vLLM (monitored)', openai: 'OpenAI-compatible', http: 'HTTP', qdrant: 'Qdrant' },
    default: 'vllm',
  }),
  node: Value.text({
    name: 'Spark',
    description: 'The Spark it runs on. Leave blank when you give a URL instead.',
    required: false,
    default: null,
    placeholder: 'spark2',
    patterns: [{ regex: patterns.sparkName, description: 'A Spark name from Configure Sparks' }],
  }),
  port: portField(null),
  url: Value.text({
    name: 'URL',
    description: 'Instead of a Spark and port: its base address, e.g. http://192.168.1.60:8000.',
    required: false,
    default: null,
    inputmode: 'url',
    patterns: [{ regex: servicePatterns.url, description: 'An http:// or https:// address' }],
  }),
  health_path: Value.text({
    name: 'Health path',
    description: 'The path probed to tell whether it is up. Blank: /health.',
    required: false,
    default: null,
    placeholder: '/health',
    patterns: [{ regex: servicePatterns.healthPath, description: 'A path starting with /' }],
  }),
})

export const inputSpec = InputSpec.of({
  builtins: Value.object(
    {
      name: 'Built-in services',
      description:
        'Where parakeet, kokoro, the embeddings server and Qdrant run. Blank: the Spark named spark2 and the usual port. The cluster vLLM always runs on the head (its port is in Configure Sparks).',
    },
    InputSpec.of({
      parakeet: placement('parakeet'),
      kokoro: placement('kokoro'),
      embeddings: placement('embeddings'),
      qdrant: placement('qdrant'),
    }),
  ),
  added: Value.list(
    List.obj(
      {
        name: 'Added services',
        description:
          'Other services to show on the dashboard and probe, such as a second vLLM on another Spark.',
        default: [],
      },
      { spec: addedSpec, displayAs: '{{name}} ({{key}})', uniqueBy: 'key' },
    ),
  ),
  restart_during_swap: restartAnyway,
})

type Result = T.ActionResult & { version: '1' }

/** The handler: checks the form against the configured Sparks, then writes the overrides file. */
export async function saveServices(
  effects: T.Effects,
  input: unknown,
  files = { config: configFile, overrides: servicesOverridesFile },
): Promise<Result> {
  const config = await files.config.read().once()
  if ((config?.services.overrides_file ?? SERVICES_OVERRIDES_PATH) !== SERVICES_OVERRIDES_PATH) {
    throw new Error(
      `config.yaml points services.overrides_file elsewhere than ${SERVICES_OVERRIDES_PATH}; edit that file instead.`,
    )
  }
  const settings = validateServices(input, config?.sparks.map((s) => s.name) ?? [])
  await refuseDuringSwap(input)
  const current = (await files.overrides.read().once()) ?? overridesShape.parse({})
  const next = applyServices(current, settings)
  await files.overrides.write(effects, next)
  const added = settings.added.length
  return {
    version: '1',
    title: 'Services saved',
    message: `${added === 0 ? 'No added service' : `${added} added service${added === 1 ? '' : 's'}`}. Spark Control restarts with the new settings.`,
    result: null,
  }
}

export const services = sdk.Action.withInput(
  'services',
  async () => ({
    name: i18n('Services'),
    description:
      i18n('Where the built-in services run and on which port, and other services to monitor, such as a second vLLM.'),
    warning: RESTART_WARNING,
    allowedStatuses: 'any',
    group: 'Settings',
    visibility: 'enabled',
  }),
  inputSpec,
  async () => {
    const current = (await servicesOverridesFile.read().once()) ?? overridesShape.parse({})
    return servicesFormValues(current) as T.DeepPartial<typeof inputSpec._TYPE>
  },
  async ({ effects, input }) => saveServices(effects, input),
)
