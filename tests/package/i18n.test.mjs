// The action, health check and interface texts follow the language StartOS runs the package in.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { root } from './helpers.mjs'

/** The exported actions' names and descriptions, with the bundle loaded under LANG=`lang`. */
function actionTexts(lang) {
  const script = `
    const { actions } = require('./javascript/index.js')
    const exported = []
    const effects = { eventId: 'i18n', isInContext: false, child: () => effects,
      onLeaveContext: () => undefined,
      action: { export: async (e) => { exported.push(e); return null }, clear: async () => null } }
    actions.init(effects).then(() => console.log(JSON.stringify(exported.map((e) =>
      [e.id, e.metadata.name, e.metadata.description, e.metadata.warning]))))`
  const out = execFileSync(process.execPath, ['-e', script], {
    cwd: root,
    encoding: 'utf-8',
    env: { ...process.env, LANG: lang },
  })
  return JSON.parse(out)
}

test('German and Spanish users see every action in their language; others see English', () => {
  const english = actionTexts('en_US.UTF-8')
  const german = actionTexts('de_DE.UTF-8')
  const spanish = actionTexts('es_ES.UTF-8')
  assert.deepEqual(actionTexts('C.UTF-8'), english, 'an unknown language falls back to English')
  assert.equal(english.find(([id]) => id === 'configure-sparks')[1], 'Configure Sparks')
  assert.equal(german.find(([id]) => id === 'configure-sparks')[1], 'Sparks einrichten')
  assert.equal(spanish.find(([id]) => id === 'configure-sparks')[1], 'Configurar Sparks')
  for (const translated of [german, spanish]) {
    assert.deepEqual(
      translated.map(([id]) => id),
      english.map(([id]) => id),
    )
    translated.forEach(([id, name, description, warning], index) => {
      const [, enName, enDescription, enWarning] = english[index]
      assert.notEqual(name, enName, `${id}: the name is translated`)
      assert.notEqual(description, enDescription, `${id}: the description is translated`)
      if (enWarning) assert.notEqual(warning, enWarning, `${id}: the warning is translated`)
    })
  }
})
