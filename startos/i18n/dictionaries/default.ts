export const DEFAULT_LANG = 'en_US'

// Every text StartOS shows for this package (action names, descriptions and warnings, health
// checks, interfaces), numbered; translations.ts gives each number in the other languages.
const dict = {
  "Configure Sparks": 0,
  "Your Sparks and how to reach them over SSH, the vLLM launch settings, services you do not run, and the swap webhook.": 1,
  "Show SSH public key": 2,
  "The public half of Spark Control's SSH key, to add to authorized_keys on every Spark.": 3,
  "Test Sparks": 4,
  "Log in to every Spark over SSH and probe every service now, and show what answered and what did not.": 5,
  "Regenerate SSH key": 6,
  "Replace Spark Control's SSH key pair with a new one, e.g. after the old private key may have leaked. Every Spark must then be given the new public key.": 7,
  "The current key stops working at once: Spark Control cannot reach any Spark until you put the new public key in authorized_keys on every Spark. Spark Control restarts, so a swap in progress is stopped and the swap lock and schedules are cleared.": 8,
  "Forget a Spark's host key": 9,
  "After you reinstall a Spark its SSH host key changes and Spark Control refuses to connect. This removes the old pinned key so the new one is trusted at the next connection.": 10,
  "Only do this when you know why the host key changed: a changed key can also mean another machine is answering at that address.": 11,
  "Services": 12,
  "Where the built-in services run and on which port, and other services to monitor, such as a second vLLM.": 13,
  "Models": 14,
  "Where models added by path may live on the Sparks, how long a model may take to load, and the largest upload the proxy accepts.": 15,
  "Swap behaviour": 16,
  "Draining and holding requests during a swap, what happens after a failed swap, swapping on request, and the watchdog.": 17,
  "Access": 18,
  "The host names Spark Control answers to (for a domain you attach in StartOS) and the reverse proxies it trusts. API keys have actions of their own.": 19,
  "Create API key": 20,
  "A key for scripts and other services calling the API (/api, /v1). Once any key exists, every API request needs one; the dashboard in your browser asks for it too.": 21,
  "Revoke API key": 22,
  "Remove an API key; whatever uses it is refused from then on.": 23,
  "Saving restarts Spark Control: a swap in progress is stopped, and the swap lock and the registered schedules (kept in memory) are cleared.": 24,
  "Save even if a swap is running": 25,
  "Dashboard and API": 26,
  "Sparks": 27,
  "Data volume": 28,
  "Settings": 29,
  "Dashboard": 30,
  "API": 31,
  "The Spark Control dashboard: every Spark and service, the running model, swaps, the swap lock and schedules.": 32,
  "Add your DGX Sparks so Spark Control can reach them over SSH.": 33,
} as const

export type I18nKey = keyof typeof dict
export type LangDict = Record<(typeof dict)[I18nKey], string>
export default dict
