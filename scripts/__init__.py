"""Developer programs that live beside the app: the Spark simulator, benchmarks, the demo."""
