import { setupManifest } from '@start9labs/start-sdk'

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
  description: {
    short: 'Control plane and GPU arbiter for a cluster of NVIDIA DGX Sparks',
    long: 'Spark Control decides which vLLM model runs across your DGX Sparks and swaps it safely over SSH. It proxies the OpenAI-compatible LLM, audio and embeddings endpoints, shows a LAN dashboard of every Spark and service, and lets your own automation coordinate with people through a swap lock, a signed swap-event webhook and a read-only schedule registry. It is the GPU arbiter, not a job runner.',
  },
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
