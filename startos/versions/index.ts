import { VersionGraph } from '@start9labs/start-sdk'
import { v0_25_0_0 } from './v0.25.0.0'

export const versionGraph = VersionGraph.of({
  current: v0_25_0_0,
  other: [],
})
