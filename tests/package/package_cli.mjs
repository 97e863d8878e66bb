// Lets the Python tests drive the built StartOS bundle:
//   node package_cli.mjs seed PATH   write the config the package seeds at install
//   node package_cli.mjs save PATH   run Configure Sparks' handler with the form on stdin (JSON)
//   node package_cli.mjs facts       print the validation patterns and built-in services (JSON)
import { readFileSync } from 'node:fs'
import { fakeEffects, internals } from './helpers.mjs'

const [command, path] = process.argv.slice(2)
const file = path ? internals.configFile.withPath(path) : null

if (command === 'seed') {
  await file.merge(fakeEffects(), {})
} else if (command === 'save') {
  await internals.saveSparkSettings(fakeEffects(), JSON.parse(readFileSync(0, 'utf-8')), file)
} else if (command === 'facts') {
  process.stdout.write(
    JSON.stringify({ patterns: internals.patterns, builtinServices: internals.BUILTIN_SERVICES }),
  )
} else {
  console.error(`unknown command ${command}`)
  process.exit(2)
}
