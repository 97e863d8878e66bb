import { sdk } from './sdk'

// Spark Control depends on no other StartOS service: the Sparks are reached over the LAN.
export const setDependencies = sdk.setupDependencies(async () => ({}))
