"""A Spark Control wired to a running Spark simulator, for integration tests.

``ClusterHarness`` owns: the simulator (real SSH on 127.0.0.x), the app served by uvicorn on
port 0, an HTTP client for it, and a webhook sender that records instead of posting (the real
sender has its own tests against a real receiver).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from app.config import Config, parse_config
from app.coordination.webhook import SwapEvent, WebhookSender
from app.runtime import Runtime
from app.swap.engine import Timings
from app.tls import client_context
from app.web import create_app
from scripts.sparksim import SparkSim
from tests.servers import serve

FAST = Timings(
    command_timeout_s=20.0,
    stop_timeout_s=30.0,
    launch_timeout_s=30.0,
    health_poll_s=0.05,
    http_timeout_s=2.0,
    verify_timeout_s=10.0,
    gpu_poll_s=0.1,
    gpu_release_timeout_s=10.0,
    cleanup_timeout_s=20.0,
)


class RecordingWebhook(WebhookSender):
    """A webhook sender that records the events it would deliver (dry runs excluded, as the
    real one does)."""

    def __init__(self) -> None:
        super().__init__("http://recorder.invalid/hook", "secret")
        self.sent: list[SwapEvent] = []
        self.arrived = asyncio.Event()

    def notify(self, event: SwapEvent) -> asyncio.Task[None] | None:
        if event.dry_run:
            return None
        self.sent.append(event)
        self.arrived.set()
        return None


class ClusterHarness:
    def __init__(
        self, sim: SparkSim, client: httpx.AsyncClient, runtime: Runtime, webhook: RecordingWebhook
    ):
        self.sim = sim
        self.client = client
        self.runtime = runtime
        self.webhook = webhook

    async def swap(
        self,
        model_key: str,
        *,
        token: str | None = None,
        dry_run: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = {**(headers or {}), **({"X-Swap-Lock-Token": token} if token else {})}
        return await self.client.post(
            "/api/swap", json={"model_key": model_key, "dry_run": dry_run}, headers=headers
        )

    async def wait_job(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for the job to finish (on the engine's event, not by polling) and return the
        job as the API shows it."""
        async with asyncio.timeout(timeout):
            await self.runtime.engine.wait(job_id)
        return (await self.client.get(f"/api/swap/{job_id}")).json()

    async def swap_and_wait(self, model_key: str, **kwargs: Any) -> dict[str, Any]:
        r = await self.swap(model_key, **kwargs)
        assert r.status_code == 202, r.text
        return await self.wait_job(r.json()["job_id"])

    def commands(self) -> list[str]:
        return [c for node in self.sim.nodes for c in node.commands]


def sim_config(sim: SparkSim, **sections: Any) -> Config:
    data = sim.config_dict()
    for section, value in sections.items():
        data[section] = {**data.get(section, {}), **value} if isinstance(value, dict) else value
    return parse_config(data, {})


@contextlib.asynccontextmanager
async def running_app(
    sim: SparkSim, *, config: Config | None = None, timings: Timings = FAST, **kwargs: Any
) -> AsyncIterator[ClusterHarness]:
    config = config or sim_config(sim)
    webhook = RecordingWebhook()
    runtime = Runtime(config, webhook=webhook, timings=timings, **kwargs)
    app = create_app(runtime)
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, timeout=30, verify=client_context()) as client,
    ):
        yield ClusterHarness(sim, client, runtime, webhook)


@contextlib.asynccontextmanager
async def simulator(root: Path, **kwargs: Any) -> AsyncIterator[SparkSim]:
    kwargs.setdefault("load_time", 0.3)
    kwargs.setdefault("token_rate", 500.0)
    async with SparkSim(root, **kwargs) as sim:
        yield sim
