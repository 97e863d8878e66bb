"""What clients of the proxy see during a real swap (Spark simulator, production timings):

* hold: HELD requests for the incoming model sent while it loads; all must be answered 200;
  figures: how long after the job turned ``ready`` the answers arrived (p50 / max), and the
  ``Retry-After`` a request for another model got meanwhile (against the model's last load);
* drain: a stream with ~1 s left when the swap starts (drain allows it: how long the swap
  waited for it), and a long stream past ``drain_timeout_s`` (cut: how long after the deadline
  the client read the error event).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn

from app.config import parse_config
from app.coordination.webhook import WebhookSender
from app.runtime import Runtime
from app.web import create_app
from app.web.lane import LaneProtocol
from scripts.bench.proxy import wait_until
from scripts.sparksim import SparkSim

HELD = 200
LOAD_TIME_S = 2.0
DRAIN_TIMEOUT_S = 1.0
MODELS = ("gemma-3-27b", "qwen3-32b")


@contextlib.asynccontextmanager
async def served(sim: SparkSim) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    data = sim.config_dict()
    data["swap"] = {"drain_timeout_s": DRAIN_TIMEOUT_S}
    config = parse_config(data, {})
    runtime = Runtime(config, webhook=WebhookSender(""))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime), host="127.0.0.1", port=0, log_config=None, http=LaneProtocol
        )
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await wait_until(started, "Spark Control to start", 30)
    port = server.servers[0].sockets[0].getsockname()[1]
    limits = httpx.Limits(max_connections=HELD + 10)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits
    ) as client:
        try:
            yield runtime, client
        finally:
            server.should_exit = True
            await task


def chat(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


async def burst(client: httpx.AsyncClient, model: str) -> list[float]:
    """Seconds to answer each of HELD requests sent at once to ``client``'s base URL."""

    async def one() -> float:
        started = time.monotonic()
        r = await client.post("/v1/chat/completions", json=chat(model, max_tokens=2))
        r.raise_for_status()
        return time.monotonic() - started

    return sorted(await asyncio.gather(*(one() for _ in range(HELD))))


async def hold(runtime: Runtime, client: httpx.AsyncClient, backend: str) -> None:
    engine = runtime.engine
    for model in (MODELS[1], MODELS[0]):  # a load-time history for the Retry-After estimate
        await engine.wait(engine.start(model).job_id)
    limits = httpx.Limits(max_connections=HELD + 10)
    async with httpx.AsyncClient(base_url=backend, timeout=120, limits=limits) as direct:
        baseline = await burst(direct, MODELS[0])
    print(
        f"baseline: {HELD} requests at once straight to the backend: "
        f"p50 {statistics.median(baseline) * 1000:.0f} ms, max {baseline[-1] * 1000:.0f} ms"
    )
    job = engine.start(MODELS[1])
    answered: list[float] = []

    async def ask() -> int:
        r = await client.post("/v1/chat/completions", json=chat(MODELS[1], max_tokens=2))
        answered.append(time.monotonic())
        return r.status_code

    requests = [asyncio.create_task(ask()) for _ in range(HELD)]

    async def all_held() -> bool:
        return runtime.gate.held >= HELD

    await wait_until(all_held, f"{HELD} held requests", 30)
    other = await client.post("/v1/chat/completions", json=chat(MODELS[0]))
    await engine.wait(job.job_id)
    ready_at = time.monotonic()
    statuses = await asyncio.gather(*requests)
    after = sorted(t - ready_at for t in answered)
    print(
        f"hold: {HELD} held requests, {statuses.count(200)} answered 200; after ready: "
        f"p50 {statistics.median(after) * 1000:.0f} ms, max {after[-1] * 1000:.0f} ms"
    )
    print(
        f"      meanwhile another model got {other.status_code} with Retry-After "
        f"{other.headers.get('retry-after')} s (the last swap to {MODELS[1]} took "
        f"{engine.history.newest_first()[2].finished_mono - engine.history.newest_first()[2].started_mono:.1f} s)"
    )


async def drain(runtime: Runtime, client: httpx.AsyncClient) -> None:
    engine = runtime.engine
    # 40 tokens/s. Allowed: 30 tokens (0.75 s) end inside the 1 s drain; cut: 2000 do not.
    plan = ((MODELS[1], MODELS[0], 30, "allowed"), (MODELS[0], MODELS[1], 2000, "cut"))
    for served, incoming, tokens, label in plan:
        body = chat(served, max_tokens=tokens, stream=True)
        async with client.stream("POST", "/v1/chat/completions", json=body) as r:
            lines = r.aiter_lines()
            await anext(lines)  # the stream runs
            job = engine.start(incoming)
            started = time.monotonic()
            last = ""
            async for line in lines:
                if line.startswith("data: ") and line != "data: [DONE]":
                    last = line
            ended = time.monotonic() - started
        drained = [
            event.data.line
            async for event in engine.job(job.job_id).follow(0)
            if event is not None and event.event == "log" and event.data.line.startswith("drain:")
        ]
        print(
            f"drain ({label}, drain_timeout_s {DRAIN_TIMEOUT_S:g}): the stream ended "
            f"{ended:.2f} s into the swap; job log: {drained[0] if drained else '-'}"
        )
        print(f"      its last event: {last[:110]}")


async def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-hold-") as tmp:
        async with SparkSim(Path(tmp) / "sim", load_time=LOAD_TIME_S, token_rate=40.0) as sim:
            async with served(sim) as (runtime, client):
                await hold(runtime, client, sim.vllm_url)
                await drain(runtime, client)


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
