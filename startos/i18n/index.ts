import { setupI18n } from '@start9labs/start-sdk'
import defaultDict, { DEFAULT_LANG } from './dictionaries/default'
import translations from './dictionaries/translations'

/** The text for `key` in the language StartOS runs the package in (LANG), English otherwise. */
export const i18n = setupI18n(defaultDict, translations, DEFAULT_LANG)
