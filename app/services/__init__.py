"""Services Spark Control watches and proxies: the swapped vLLM and the audio/embedding
services, their registry and probes."""
