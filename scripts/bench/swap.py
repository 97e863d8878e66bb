"""Swap engine figures on the Spark simulator (real SSH, fake vLLM), production timings.

* readiness detection latency: the moment the job is ``ready`` minus the moment the fake vLLM
  turned healthy (includes verification: ``/v1/models`` and a one-token completion);
* engine overhead: swap duration (request to ``ready``) minus the configured load time.

Median (and max) over SWAPS swaps alternating between two models, so each one stops the
previous model first. Targets: detection ≤ 0.3 s, overhead ≤ 1.5 s.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from app.config import parse_config
from app.coordination.webhook import WebhookSender
from app.runtime import Runtime
from scripts.sparksim import SparkSim

SWAPS = 10
LOAD_TIME_S = 2.0
MODELS = ("gemma-3-27b", "qwen3-32b")


async def measure() -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory(prefix="bench-swap-") as tmp:
        async with SparkSim(Path(tmp) / "sim", load_time=LOAD_TIME_S, token_rate=200.0) as sim:
            config = parse_config(sim.config_dict(), {})
            runtime = Runtime(config, webhook=WebhookSender(""))
            await runtime.start()
            detection, overhead = [], []
            try:
                for i in range(SWAPS):
                    started = time.time()
                    job = runtime.engine.start(MODELS[i % 2])
                    done = await runtime.engine.wait(job.job_id)
                    ready_at = time.time()
                    if done.state != "ready":
                        raise RuntimeError(f"swap {i} ended {done.state}: {done.error}")
                    healthy_at = sim.vllm_healthy_at()
                    assert healthy_at is not None
                    detection.append(ready_at - healthy_at)
                    overhead.append(ready_at - started - LOAD_TIME_S)
            finally:
                await runtime.stop()
            return detection, overhead


def main() -> None:
    detection, overhead = asyncio.run(measure())
    print(
        f"readiness detection latency: median {statistics.median(detection):.3f} s, "
        f"max {max(detection):.3f} s over {len(detection)} swaps (target <= 0.3 s)"
    )
    print(
        f"engine overhead (swap duration - {LOAD_TIME_S:g} s load): median {statistics.median(overhead):.3f} s, "
        f"max {max(overhead):.3f} s (target <= 1.5 s)"
    )


if __name__ == "__main__":
    main()
