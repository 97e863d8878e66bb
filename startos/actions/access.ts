import type { T } from '@start9labs/start-sdk'
import {
  type Config,
  configFile,
  DEFAULT_TRUSTED_PROXIES,
} from '../fileModels/config.yaml'
import { sdk } from '../sdk'
import { type AccessSettings, LIMITS, settingsPatterns, validateAccess } from '../settingsValidation'
import { RESTART_WARNING, restartAnyway, saveSettings } from './restartGuard'
import { i18n } from '../i18n'

const { InputSpec, Value, List } = sdk

export const inputSpec = InputSpec.of({
  allowed_hosts: Value.list(
    List.text(
      {
        name: 'Allowed host names',
        description:
          'Host names Spark Control answers to besides IP addresses, localhost and .local names, e.g. the domain you gave this service in StartOS. "*.example.org" allows its subdomains; "*" allows any name (not recommended). Requests naming another host are refused, which protects the LAN API from DNS rebinding.',
        default: [],
        maxLength: LIMITS.hosts,
      },
      {
        placeholder: 'spark-control.example.org',
        patterns: [{ regex: settingsPatterns.allowedHost, description: 'A host name, *.domain or *' }],
      },
    ),
  ),
  trusted_proxies: Value.list(
    List.text(
      {
        name: 'Trusted proxies',
        description:
          `Addresses (or networks, e.g. 10.0.0.0/8) of reverse proxies in front of Spark Control whose X-Forwarded-Host, X-Forwarded-Proto and X-Forwarded-For headers count (X-Forwarded-For names the client whose failed API key attempts are counted). Keep the defaults (${DEFAULT_TRUSTED_PROXIES.join(', ')}: this machine and StartOS's own proxy) unless you know StartOS reaches Spark Control otherwise; an empty list trusts no proxy.`,
        default: [...DEFAULT_TRUSTED_PROXIES],
        maxLength: LIMITS.hosts,
      },
      {
        placeholder: '10.0.3.1',
        patterns: [{ regex: settingsPatterns.trustedProxy, description: 'An IP address or network' }],
      },
    ),
  ),
  restart_during_swap: restartAnyway,
})

export function applyAccess(current: Config, settings: AccessSettings): Config {
  return {
    ...current,
    server: {
      ...current.server,
      allowed_hosts: settings.allowed_hosts,
      trusted_proxies: settings.trusted_proxies,
    },
  }
}

export function saveAccess(effects: T.Effects, input: unknown, file = configFile) {
  return saveSettings(effects, input, validateAccess, applyAccess, file)
}

export const access = sdk.Action.withInput(
  'access',
  async () => ({
    name: i18n('Access'),
    description:
      i18n('The host names Spark Control answers to (for a domain you attach in StartOS) and the reverse proxies it trusts. API keys have actions of their own.'),
    warning: RESTART_WARNING,
    allowedStatuses: 'any',
    group: 'Access',
    visibility: 'enabled',
  }),
  inputSpec,
  async () => {
    const config = await configFile.read().once()
    if (!config) return null
    return {
      allowed_hosts: config.server.allowed_hosts,
      trusted_proxies: config.server.trusted_proxies,
    }
  },
  async ({ effects, input }) => {
    const saved = await saveAccess(effects, input)
    const hosts = saved.allowed_hosts.length
    return {
      version: '1' as const,
      title: 'Access saved',
      message: `${hosts === 0 ? 'No extra host name' : `${hosts} host name${hosts === 1 ? '' : 's'}`} allowed besides addresses and .local names. Spark Control restarts with the new settings.`,
      result: null,
    }
  },
)
