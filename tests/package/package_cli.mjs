// Lets the Python tests drive the built StartOS bundle:
//   node package_cli.mjs seed PATH        write the config the package seeds at install
//   node package_cli.mjs save PATH        run Configure Sparks' handler with the form on stdin (JSON)
//   node package_cli.mjs models PATH      run the Models handler on the config at PATH
//   node package_cli.mjs access PATH      run the Access handler on the config at PATH
//   node package_cli.mjs services DIR     run the Services handler on DIR/config.yaml and
//                                         DIR/services-overrides.yaml
//   node package_cli.mjs swap PATH        run the Swap behaviour handler on the config at PATH
//   node package_cli.mjs apikey PATH      run Create API key on the config at PATH; prints the key
//   node package_cli.mjs revoke PATH      run Revoke API key on the config at PATH
//   node package_cli.mjs facts            print the validation patterns, built-in services and webhook
//                                         events (JSON)
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fakeEffects, internals } from './helpers.mjs'

const [command, path] = process.argv.slice(2)
const file = path ? internals.configFile.withPath(path) : null
const stdin = () => JSON.parse(readFileSync(0, 'utf-8'))

if (command === 'seed') {
  await file.merge(fakeEffects(), {})
} else if (command === 'save') {
  await internals.saveSparkSettings(fakeEffects(), stdin(), file)
} else if (command === 'models') {
  await internals.saveModels(fakeEffects(), stdin(), file)
} else if (command === 'access') {
  await internals.saveAccess(fakeEffects(), stdin(), file)
} else if (command === 'swap') {
  await internals.saveSwapBehaviour(fakeEffects(), stdin(), file)
} else if (command === 'apikey') {
  const { key } = await internals.createApiKey(fakeEffects(), stdin(), file)
  process.stdout.write(key)
} else if (command === 'revoke') {
  await internals.revokeApiKey(fakeEffects(), stdin(), file)
} else if (command === 'services') {
  await internals.saveServices(fakeEffects(), stdin(), {
    config: internals.configFile.withPath(join(path, 'config.yaml')),
    overrides: internals.servicesOverridesFile.withPath(join(path, 'services-overrides.yaml')),
  })
} else if (command === 'facts') {
  process.stdout.write(
    JSON.stringify({
      patterns: internals.patterns,
      builtinServices: internals.BUILTIN_SERVICES,
      webhookEvents: internals.WEBHOOK_EVENTS,
      servicePatterns: internals.servicePatterns,
    }),
  )
} else {
  console.error(`unknown command ${command}`)
  process.exit(2)
}
