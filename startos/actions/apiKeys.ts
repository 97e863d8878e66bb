/**
 * API keys: created here, shown once, stored only as their SHA-256 (config `server.api_keys`,
 * shared CONFIG.md). With at least one key, the app asks for `Authorization: Bearer <key>` on
 * /api and /v1.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { T } from '@start9labs/start-sdk'
import {
  API_KEY_SCOPES,
  type ApiKeyEntry,
  type Config,
  configFile,
  configShape,
} from '../fileModels/config.yaml'
import { sdk } from '../sdk'
import { settingsPatterns, validateApiKeyRequest } from '../settingsValidation'
import { InvalidInput } from '../validation'
import { refuseDuringSwap, RESTART_WARNING, restartAnyway } from './restartGuard'
import { i18n } from '../i18n'

const { InputSpec, Value } = sdk

const scopeNames: Record<ApiKeyEntry['scope'], string> = {
  read: 'read: status, models, logs and the /v1 proxy',
  operate: 'operate: read, plus swaps, the swap lock and schedules',
  admin: 'admin: everything, including adding models and services',
}

/** A new key: 32 random bytes, URL-safe, with a prefix that says what it is. */
export function newApiKey(): string {
  return `sck_${randomBytes(32).toString('base64url')}`
}

export const sha256 = (text: string) => createHash('sha256').update(text, 'utf-8').digest('hex')

const keysOf = (config: Config | null): ApiKeyEntry[] => config?.server.api_keys ?? []

export const createInputSpec = InputSpec.of({
  name: Value.text({
    name: 'Name',
    description: 'Who or what uses this key, e.g. cron-nightly or open-webui.',
    required: true,
    default: null,
    placeholder: 'cron-nightly',
    maxLength: 64,
    patterns: [
      {
        regex: settingsPatterns.apiKeyName,
        description: 'Lowercase letters, digits, ".", "_" or "-"',
      },
    ],
  }),
  scope: Value.select({
    name: 'Scope',
    description: 'What the key may do.',
    values: scopeNames,
    default: 'operate',
  }),
  restart_during_swap: restartAnyway,
})

/** The handler: adds the hash of a new key under `name` and returns the key itself, once. */
export async function createApiKey(
  effects: T.Effects,
  input: unknown,
  file = configFile,
  generate = newApiKey,
): Promise<{ name: string; key: string }> {
  const current = (await file.read().once()) ?? configShape.parse({})
  const request = validateApiKeyRequest(input, keysOf(current))
  await refuseDuringSwap(input)
  const key = generate()
  const entry: ApiKeyEntry = { name: request.name, key_sha256: sha256(key), scope: request.scope }
  await file.write(effects, {
    ...current,
    server: { ...current.server, api_keys: [...keysOf(current), entry] },
  })
  return { name: request.name, key }
}

export const createApiKeyAction = sdk.Action.withInput(
  'create-api-key',
  async () => ({
    name: i18n('Create API key'),
    description:
      i18n('A key for scripts and other services calling the API (/api, /v1). Once any key exists, every API request needs one; the dashboard in your browser asks for it too.'),
    warning: RESTART_WARNING,
    allowedStatuses: 'any',
    group: 'Access',
    visibility: 'enabled',
  }),
  createInputSpec,
  async () => null,
  async ({ effects, input }) => {
    const { name, key } = await createApiKey(effects, input)
    return {
      version: '1' as const,
      title: `API key "${name}"`,
      message:
        'Copy it now: it is shown only this once (Spark Control keeps only its SHA-256). Send it as "Authorization: Bearer <key>". Spark Control restarts to use it.',
      result: { type: 'single' as const, value: key, copyable: true, qr: false, masked: true },
    }
  },
)

export const revokeInputSpec = InputSpec.of({
  name: Value.dynamicSelect(async ({ effects }) => {
    const keys = (await configFile.read((c) => c.server.api_keys).const(effects)) ?? []
    return {
      name: 'Key',
      description: 'The key to revoke. Whatever uses it is refused from then on.',
      values: Object.fromEntries(keys.map((k) => [k.name, `${k.name} (${k.scope})`])),
      default: keys[0]?.name ?? '',
      disabled: keys.length === 0 ? 'No API key exists' : false,
    }
  }),
  restart_during_swap: restartAnyway,
})

/** The handler: removes the key named in `input`. */
export async function revokeApiKey(effects: T.Effects, input: unknown, file = configFile) {
  const name =
    typeof input === 'object' && input !== null ? (input as Record<string, unknown>).name : null
  const current = (await file.read().once()) ?? configShape.parse({})
  const keys = keysOf(current)
  if (typeof name !== 'string' || !keys.some((k) => k.name === name)) {
    throw new InvalidInput([`No API key is named ${JSON.stringify(name)}.`], 'Nothing was revoked:')
  }
  await refuseDuringSwap(input)
  const left = keys.filter((k) => k.name !== name)
  await file.write(effects, { ...current, server: { ...current.server, api_keys: left } })
  return { name, left: left.length }
}

export const revokeApiKeyAction = sdk.Action.withInput(
  'revoke-api-key',
  async ({ effects }) => {
    const count =
      (await configFile.read((c) => (c.server.api_keys).length).const(effects)) ?? 0
    return {
      name: i18n('Revoke API key'),
      description: i18n('Remove an API key; whatever uses it is refused from then on.'),
      warning: RESTART_WARNING,
      allowedStatuses: 'any',
      group: 'Access',
      visibility: count > 0 ? 'enabled' : { disabled: 'No API key exists.' },
    }
  },
  revokeInputSpec,
  async () => null,
  async ({ effects, input }) => {
    const { name, left } = await revokeApiKey(effects, input)
    return {
      version: '1' as const,
      title: 'API key revoked',
      message: `"${name}" no longer works. ${left === 0 ? 'No API key is left: the API is open to anyone who can reach it again.' : `${left} key${left === 1 ? '' : 's'} left.`} Spark Control restarts with the new settings.`,
      result: null,
    }
  },
)
