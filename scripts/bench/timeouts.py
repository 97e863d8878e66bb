"""Timing figures the tests deliberately do not assert (they inject timeouts and wait on
events instead):

* the webhook sender against a receiver that accepts and never answers: how long ``notify``
  takes to return (the caller never waits) and when the delivery gives up (contract: 5 s);
* ``GET /api/status`` while a probe is stuck on a Spark that accepts TCP and never speaks SSH
  (answered from the cache: target well under 0.1 s), and how long ``/api/health/deep`` takes
  then (bounded by the probe timeout, 2 s here).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from app.config import parse_config
from app.coordination.webhook import SwapEvent, WebhookSender
from app.runtime import Runtime
from app.services.monitor import ProbeSettings
from app.web import create_app

PROBE_TIMEOUT_S = 2.0


class _Silent:
    """A TCP server that accepts and never says anything."""

    def __init__(self) -> None:
        self.held: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Event()

    async def _hold(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.held.append(writer)  # read nothing, answer nothing
        self.connected.set()


async def _silent_server() -> tuple[asyncio.Server, int, _Silent]:
    silent = _Silent()
    server = await asyncio.start_server(silent._hold, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], silent


async def webhook_give_up() -> tuple[float, float]:
    server, port, held = await _silent_server()
    sender = WebhookSender(f"http://127.0.0.1:{port}/hook", "bench-secret")
    event = SwapEvent(
        event="swap_failed",
        job_id="bench",
        model_key="m",
        state="failed",
        returncode=1,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
        dry_run=False,
    )
    started = time.monotonic()
    task = sender.notify(event)
    returned = time.monotonic() - started
    assert task is not None
    await task
    gave_up = time.monotonic() - started
    await sender.aclose()
    for writer in held.held:
        writer.close()
    server.close()
    return returned, gave_up


async def status_while_a_probe_hangs() -> tuple[list[float], float]:
    server, port, held = await _silent_server()
    with tempfile.TemporaryDirectory(prefix="bench-timeouts-") as tmp:
        config = parse_config(
            {
                "sparks": [{"name": "hung", "host": "127.0.0.1", "ssh_port": port}],
                "ssh": {
                    "key_file": str(Path(tmp) / "id_ed25519"),
                    "known_hosts": str(Path(tmp) / "known_hosts"),
                },
            },
            {},
        )
        runtime = Runtime(
            config,
            webhook=WebhookSender(""),
            probes=ProbeSettings(interval_s=0.2, timeout_s=PROBE_TIMEOUT_S),
        )
        app = create_app(runtime)
        await runtime.start()
        latencies: list[float] = []
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                await held.connected.wait()  # the probe has connected and is now stuck
                until = time.monotonic() + PROBE_TIMEOUT_S
                while time.monotonic() < until:
                    started = time.monotonic()
                    (await client.get("/api/status")).raise_for_status()
                    latencies.append(time.monotonic() - started)
                started = time.monotonic()
                await client.get("/api/health/deep")
                deep = time.monotonic() - started
        finally:
            await runtime.stop()
            for writer in held.held:
                writer.close()
            server.close()
    return latencies, deep


def main() -> None:
    returned, gave_up = asyncio.run(webhook_give_up())
    print(
        f"webhook, silent receiver: notify returned in {returned * 1000:.2f} ms, "
        f"delivery gave up after {gave_up:.2f} s (contract: 5 s)"
    )
    latencies, deep = asyncio.run(status_while_a_probe_hangs())
    print(
        f"/api/status while a probe hangs: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} requests (target < 100 ms); "
        f"/api/health/deep took {deep:.2f} s (probe timeout {PROBE_TIMEOUT_S:g} s)"
    )


if __name__ == "__main__":
    main()
