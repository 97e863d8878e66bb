"""A cancel changes what runs, so the swap lock covers it (423 like a swap), and a cancelled
swap — or one a shutdown interrupts — still sends the webhook (``swap_failed`` with a
``reason``), the shutdown's before Spark Control exits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import msgspec

from app.coordination.webhook import WebhookSender
from app.runtime import Runtime
from app.swap.jobs import JobRecord, Phase
from app.web import create_app
from tests.cluster import FAST, ClusterHarness, running_app, sim_config
from tests.integration.test_webhook import Receiver
from tests.servers import serve

MODEL = "gemma-3-27b"
SEED_FIELDS = [
    "event", "job_id", "model_key", "state", "returncode", "started_at", "finished_at", "dry_run",
]  # fmt: skip


async def wait_phase(cluster: ClusterHarness, job_id: str, phase: str) -> None:
    async with asyncio.timeout(30):
        async for event in cluster.runtime.events.subscribe():
            data = event.data if event.kind == "swap" else {}
            if data.get("job_id") == job_id and data.get("phase") == phase:
                return
            if data.get("job_id") == job_id and data.get("state") in ("ready", "failed"):
                raise AssertionError(f"job ended before {phase}: {data}")


async def test_cancel_while_locked_needs_the_token(sim: Any) -> None:
    sim.set_load_time(30)
    async with running_app(sim) as cluster:
        grant = (await cluster.client.post("/api/swap/lock", json={"holder": "nightly"})).json()
        token = grant["token"]
        r = await cluster.swap(MODEL, token=token)
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        await wait_phase(cluster, job_id, "loading")

        refused_swap = await cluster.swap(MODEL)
        assert refused_swap.status_code == 423
        for headers in ({}, {"X-Swap-Lock-Token": "not-the-token"}):
            r = await cluster.client.post(f"/api/swap/{job_id}/cancel", headers=headers)
            assert r.status_code == 423, r.text
            # Same rule, same body (the lock's seconds_remaining may have ticked meanwhile).
            body, expected = r.json(), refused_swap.json()
            body["lock"].pop("seconds_remaining")
            expected["lock"].pop("seconds_remaining")
            assert body == expected
        assert (await cluster.client.get(f"/api/swap/{job_id}")).json()["state"] == "running"
        assert cluster.runtime.engine.job(job_id).cancel_requested is False

        r = await cluster.client.post(
            f"/api/swap/{job_id}/cancel", headers={"X-Swap-Lock-Token": token}
        )
        assert r.status_code == 202, r.text
        done = await cluster.wait_job(job_id)
        assert done["state"] == "cancelled"
        assert done["error"] == "The swap was cancelled by nightly."
        [sent] = cluster.webhook.sent
        assert (sent.event, sent.state, sent.job_id, sent.reason) == (
            "swap_failed",
            "failed",
            job_id,
            "cancelled by nightly",
        )


async def test_shutdown_mid_swap_sends_swap_failed_before_exit(sim: Any) -> None:
    sim.set_load_time(30)
    receiver = Receiver()
    async with serve(receiver) as hook_url:
        config = sim_config(sim, webhook={"url": hook_url + "/hook", "secret": "s"})
        runtime = Runtime(config, webhook=WebhookSender(hook_url + "/hook", "s"), timings=FAST)
        loading = asyncio.Event()

        def at_loading(_job: JobRecord, phase: Phase) -> None:
            if phase == Phase.LOADING:
                loading.set()

        runtime.engine.phase_listeners.append(at_loading)
        async with (
            serve(create_app(runtime)) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as client,
        ):
            r = await client.post("/api/swap", json={"model_key": MODEL})
            assert r.status_code == 202
            job_id = r.json()["job_id"]
            async with asyncio.timeout(30):
                await loading.wait()
        # The server has exited: the event was delivered during its shutdown, not after.
        [request] = receiver.requests
        body = json.loads(request["body"])
        assert list(body) == [*SEED_FIELDS, "reason"]
        assert body["event"] == "swap_failed" and body["state"] == "failed"
        assert body["job_id"] == job_id and body["returncode"] == 1
        assert body["reason"] == "Spark Control stopped while the swap was running"
        assert request["headers"]["x-spark-event"] == "swap_failed"
        job = runtime.engine.job(job_id)
        assert job.error == "Spark Control stopped while the swap was running."


async def test_completed_swap_payload_has_no_reason(cluster: ClusterHarness) -> None:
    await cluster.swap_and_wait(MODEL)
    [sent] = cluster.webhook.sent
    assert list(msgspec.to_builtins(sent)) == SEED_FIELDS
