"""Notifications end to end: the simulator's engine crashes after it is ready, the status
probes notice, and the real webhook sender delivers ``model_crashed`` (then nothing for events
not selected) to a receiver on 127.0.0.1, and the delivery is recorded."""

from __future__ import annotations

import json
from typing import Any

from app.coordination.webhook import WebhookSender
from app.runtime import Runtime
from app.services.monitor import ProbeSettings
from app.web import create_app
from tests.cluster import FAST, sim_config
from tests.integration.test_webhook_events import ScriptedReceiver
from tests.servers import serve
from tests.waits import wait_until

MODEL = "gemma-3-27b"


async def test_a_crash_after_ready_sends_model_crashed(sim: Any) -> None:
    receiver = ScriptedReceiver([])
    async with serve(receiver) as hook_url:
        config = sim_config(sim)
        webhook = WebhookSender(
            hook_url + "/hook", "s3cret", events=["model_crashed", "swap_complete"]
        )
        runtime = Runtime(
            config, webhook=webhook, timings=FAST, probes=ProbeSettings(interval_s=0.2)
        )
        async with serve(create_app(runtime)):
            sim.inject("spark1", "crash_after_ready", seconds=0.5)
            job = runtime.engine.start(MODEL)
            done = await runtime.engine.wait(job.job_id)
            assert done.state == "ready"

            def events() -> list[str]:
                return [json.loads(r["body"])["event"] for r in receiver.requests]

            await wait_until(lambda: "model_crashed" in events(), "model_crashed", timeout=30)
            crashed = next(
                json.loads(r["body"])
                for r in receiver.requests
                if json.loads(r["body"])["event"] == "model_crashed"
            )
            assert crashed["model_key"] == MODEL and crashed["at"]
            deliveries = await wait_until(
                lambda: _recorded(runtime, "model_crashed"), "the delivery to be recorded"
            )
            assert deliveries[0].ok and deliveries[0].status == 200
            # Only selected events were sent: no lock, Spark or test events slipped through.
            assert set(events()) <= {"model_crashed", "swap_complete"}


async def _recorded(runtime: Runtime, event: str) -> list[Any]:
    return [d for d in await runtime.storage.deliveries.recent() if d.event == event]
