import { setupManifest } from '@start9labs/start-sdk'
import { long, short } from './i18n'

// The human-readable record of this manifest is ../../manifest.yaml; a test fails when they differ.
// s9pk.mk takes the package identifier from the one line of this file that names it, with awk:
// keep it a single-quoted literal, and keep that key out of every other line and comment.
export const manifest = setupManifest({
  id: 'spark-control',
  title: 'Spark Control',
  license: 'MIT',
  packageRepo: 'https://github.com/spark-control/spark-control',
  upstreamRepo: 'https://github.com/spark-control/spark-control',
  marketingUrl: 'https://github.com/spark-control/spark-control',
  donationUrl: null,
  description: { short, long },
  volumes: ['main'],
  images: {
    main: {
      // start-cli builds this once per architecture, passing --platform and --build-arg ARCH.
      source: { dockerBuild: { workdir: '.', dockerfile: 'Dockerfile' } },
      arch: ['x86_64', 'aarch64'],
      // Both architectures are built natively: never run one under emulation.
      emulateMissingAs: null,
    },
  },
  dependencies: {},
})
