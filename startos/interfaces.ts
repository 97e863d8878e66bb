import { configFile } from './fileModels/config.yaml'
import { sdk } from './sdk'
import { uiPort } from './utils'
import { i18n } from './i18n'

/** The API interface's description: whether a caller needs an API key right now. */
export function apiDescription(apiKeyCount: number): string {
  const what =
    'The HTTP API (/api/…) and the OpenAI-compatible endpoints (/v1/…) for scripts and other services.'
  return apiKeyCount > 0
    ? `${what} Every request needs an API key: Authorization: Bearer <key> (actions Create API key / Revoke API key).`
    : `${what} No API key is set, so anyone who can reach this address can use it: create one (Create API key) before attaching a public domain.`
}

export const setInterfaces = sdk.setupInterfaces(async ({ effects }) => {
  // Re-run when the keys change, so the description stays true.
  const keyCount =
    (await configFile.read((c) => c.server.api_keys.length).const(effects)) ?? 0
  const host = sdk.MultiHost.of(effects, 'main')
  const origin = await host.bindPort(uiPort, { protocol: 'http' })
  const ui = sdk.createInterface(effects, {
    name: i18n('Dashboard'),
    id: 'ui',
    description:
      i18n('The Spark Control dashboard: every Spark and service, the running model, swaps, the swap lock and schedules.'),
    type: 'ui',
    masked: false,
    schemeOverride: null,
    username: null,
    path: '',
    query: {},
  })
  const api = sdk.createInterface(effects, {
    name: i18n('API'),
    id: 'api',
    description: apiDescription(keyCount),
    type: 'api',
    masked: false,
    schemeOverride: null,
    username: null,
    path: '',
    query: {},
  })
  return [await origin.export([ui, api])]
})
