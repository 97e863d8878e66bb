import type { T } from '@start9labs/start-sdk'
import {
  BUILTIN_SERVICES,
  type Config,
  configFile,
  configShape,
  DEFAULT_CONTAINER,
  DEFAULT_IMAGE,
  DEFAULT_LAUNCH_DIR,
  DEFAULT_VLLM_PORT,
  SSH_SERVICES,
} from '../fileModels/config.yaml'
import { sdk } from '../sdk'
import {
  applySparkSettings,
  patterns,
  validateSparkSettings,
  HF_TOKEN_MAX,
  WEBHOOK_SECRET_MAX,
} from '../validation'
import { refuseDuringSwap, RESTART_WARNING, restartAnyway } from './restartGuard'
import { i18n } from '../i18n'

const { InputSpec, Value, List } = sdk

const serviceNames: Record<(typeof BUILTIN_SERVICES)[number], string> = {
  vllm: 'vLLM: the swapped cluster model',
  parakeet: 'Parakeet: speech recognition and diarization',
  kokoro: 'Kokoro: text to speech',
  embeddings: 'Embeddings server',
  qdrant: 'Qdrant vector database',
}

const sshUserPattern = {
  regex: patterns.sshUser,
  description: 'Lowercase letters, digits, "_", "." or "-", starting with a letter or "_"',
}

const sparkSpec = InputSpec.of({
  name: Value.text({
    name: 'Name',
    description: 'A short name for this Spark, shown on the dashboard and used in the API.',
    required: true,
    default: null,
    placeholder: 'spark1',
    maxLength: 32,
    patterns: [
      {
        regex: patterns.sparkName,
        description: '1-32 lowercase letters, digits or hyphens, starting with a letter or digit',
      },
    ],
  }),
  host: Value.text({
    name: 'Host',
    description: 'Its hostname or IP address on your LAN.',
    required: true,
    default: null,
    placeholder: '192.168.1.50',
    patterns: [{ regex: patterns.host, description: 'A hostname or an IP address' }],
  }),
  ssh_port: Value.number({
    name: 'SSH port',
    required: true,
    default: 22,
    integer: true,
    min: 1,
    max: 65535,
  }),
  ssh_user: Value.text({
    name: 'SSH user',
    description: 'The account Spark Control logs in as. Put its public key in this account.',
    required: true,
    default: 'nvidia',
    patterns: [sshUserPattern],
  }),
  cluster_address: Value.text({
    name: 'Cluster-link address',
    description:
      "The Spark's address on the ConnectX cluster link, as the other Sparks reach it; leave empty to use the SSH address. launch-cluster.sh names the Sparks by it and the head copies downloaded weights to the workers over it.",
    required: false,
    default: null,
    placeholder: '192.168.100.10',
    patterns: [{ regex: patterns.host, description: 'A hostname or an IP address' }],
  }),
})

const sshUserField = (service: (typeof SSH_SERVICES)[number]) =>
  Value.text({
    name: serviceNames[service],
    description: `The SSH user for ${service}. Blank: the SSH user of the Spark it runs on.`,
    required: false,
    default: null,
    placeholder: "the Spark's SSH user",
    patterns: [sshUserPattern],
  })

export const inputSpec = InputSpec.of({
  sparks: Value.list(
    List.obj(
      {
        name: i18n('Sparks'),
        description:
          'Your DGX Sparks, head first: vLLM serves its HTTP API on the first one, the others are workers.',
        default: [],
      },
      { spec: sparkSpec, displayAs: '{{name}} ({{host}})', uniqueBy: 'name' },
    ),
  ),
  services: Value.object(
    { name: i18n('Services'), description: 'The built-in services on your Sparks.' },
    InputSpec.of({
      disabled: Value.multiselect({
        name: 'Disabled services',
        description:
          'Services you do not run. They get no dashboard tile, are never probed, and their proxy routes answer 404.',
        values: serviceNames,
        default: [],
      }),
      ssh_users: Value.object(
        {
          name: 'Per-service SSH users',
          description:
            "Only when a service runs under a different account than the Spark's SSH user.",
        },
        InputSpec.of({
          parakeet: sshUserField('parakeet'),
          kokoro: sshUserField('kokoro'),
          embeddings: sshUserField('embeddings'),
          qdrant: sshUserField('qdrant'),
        }),
      ),
    }),
  ),
  vllm: Value.object(
    { name: 'vLLM', description: 'How the cluster model is launched with launch-cluster.sh.' },
    InputSpec.of({
      port: Value.number({
        name: 'vLLM port',
        description: `The port of vLLM's HTTP API on the head Spark. Blank: ${DEFAULT_VLLM_PORT}.`,
        required: false,
        default: null,
        integer: true,
        min: 1,
        max: 65535,
        placeholder: String(DEFAULT_VLLM_PORT),
      }),
      container: Value.text({
        name: 'Container name',
        description: `The vLLM container's name on every Spark. Blank: ${DEFAULT_CONTAINER}.`,
        required: false,
        default: null,
        placeholder: DEFAULT_CONTAINER,
        maxLength: 64,
        patterns: [
          {
            regex: patterns.containerName,
            description: 'Letters, digits, "_", "." and "-", starting with a letter or digit',
          },
        ],
      }),
      image: Value.text({
        name: 'Image',
        description: `The Docker image launch-cluster.sh starts. Blank: ${DEFAULT_IMAGE}.`,
        required: false,
        default: null,
        placeholder: DEFAULT_IMAGE,
        patterns: [{ regex: patterns.imageRef, description: 'A Docker image reference' }],
      }),
      launch_dir: Value.text({
        name: 'Launch directory',
        description: `Where spark-vllm-docker is checked out on the head Spark. Blank: ${DEFAULT_LAUNCH_DIR}.`,
        required: false,
        default: null,
        placeholder: DEFAULT_LAUNCH_DIR,
        patterns: [
          { regex: patterns.remoteDir, description: 'An absolute path, or one starting with ~/' },
        ],
      }),
      hf_token: Value.text({
        name: 'Hugging Face token',
        description:
          'For gated models. Sent to the head Spark over SSH as HF_TOKEN (its sshd must AcceptEnv HF_TOKEN), never on a command line. Blank: none.',
        required: false,
        default: null,
        masked: true,
        maxLength: HF_TOKEN_MAX,
      }),
    }),
  ),
  webhook: Value.object(
    {
      name: 'Swap webhook',
      description: 'Spark Control POSTs swap_complete and swap_failed events to this URL.',
    },
    InputSpec.of({
      url: Value.text({
        name: 'Swap webhook URL',
        description: 'An http:// or https:// address. Blank: no webhook.',
        required: false,
        default: null,
        inputmode: 'url',
        placeholder: 'https://automation.lan/hooks/spark',
        patterns: [{ regex: '^https?://\\S+$', description: 'An http:// or https:// address' }],
      }),
      secret: Value.text({
        name: 'Webhook secret',
        description:
          'When set, every webhook body is signed: X-Spark-Signature: sha256=<HMAC-SHA256 of the body>. Blank: unsigned.',
        required: false,
        default: null,
        masked: true,
        maxLength: WEBHOOK_SECRET_MAX,
      }),
    }),
  ),
  restart_during_swap: restartAnyway,
})

/** The form's current values, read from the config file. */
export function formValues(config: Config): T.DeepPartial<typeof inputSpec._TYPE> {
  const users = config.services.ssh_users
  return {
    sparks: config.sparks.map((spark) => ({
      ...spark,
      cluster_address: spark.cluster_address ?? null,
    })),
    services: {
      disabled: config.services.disabled.filter((key): key is (typeof BUILTIN_SERVICES)[number] =>
        (BUILTIN_SERVICES as readonly string[]).includes(key),
      ),
      ssh_users: {
        parakeet: users.parakeet ?? null,
        kokoro: users.kokoro ?? null,
        embeddings: users.embeddings ?? null,
        qdrant: users.qdrant ?? null,
      },
    },
    vllm: {
      port: config.vllm.port,
      container: config.vllm.container,
      image: config.vllm.image,
      launch_dir: config.vllm.launch_dir,
      hf_token: config.vllm.hf_token || null,
    },
    webhook: { url: config.webhook.url || null, secret: config.webhook.secret || null },
    restart_during_swap: false,
  }
}

type ConfigFile = typeof configFile

/**
 * The handler: validates `input`, then writes the config with it applied. Refused input
 * throws before anything is written. The app restarts because main reads the file with const().
 */
export async function saveSparkSettings(
  effects: T.Effects,
  input: unknown,
  file: ConfigFile = configFile,
): Promise<Config> {
  const settings = validateSparkSettings(input)
  await refuseDuringSwap(input)
  const current = (await file.read().once()) ?? configShape.parse({})
  const next = applySparkSettings(current, settings)
  await file.write(effects, next)
  return next
}

export const configureSparks = sdk.Action.withInput(
  'configure-sparks',
  async () => ({
    name: i18n('Configure Sparks'),
    description:
      i18n('Your Sparks and how to reach them over SSH, the vLLM launch settings, services you do not run, and the swap webhook.'),
    warning: RESTART_WARNING,
    allowedStatuses: 'any',
    group: null,
    visibility: 'enabled',
  }),
  inputSpec,
  async () => {
    const config = await configFile.read().once()
    return config ? formValues(config) : null
  },
  async ({ effects, input }) => {
    const saved = await saveSparkSettings(effects, input)
    const count = saved.sparks.length
    return {
      version: '1',
      title: 'Sparks saved',
      message:
        count === 0
          ? 'No Spark is configured yet. Spark Control restarts with the new settings.'
          : `${count} Spark${count === 1 ? '' : 's'} configured; the head is ${saved.sparks[0].name}. Spark Control restarts with the new settings.`,
      result: null,
    }
  },
)
