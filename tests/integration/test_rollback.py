"""A swap that fails after it stopped the previous model relaunches that model (``swap.
on_failure: rollback``), inside the same job; ``stay_stopped`` leaves the cluster stopped, and a
cancel never rolls back. Over the Spark simulator."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from app.swap.jobs import JobRecord, Phase
from tests.cluster import ClusterHarness, running_app, sim_config
from tests.integration.test_swap_traffic import job_log

MODEL = "gemma-3-27b"
OTHER = "qwen3-32b"


async def phases_seen(cluster: ClusterHarness, job_id: str) -> list[str]:
    phases: list[str] = []
    async with cluster.client.stream("GET", f"/api/swap/{job_id}/stream") as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and '"phase":"' in line:
                phase = line.split('"phase":"')[1].split('"')[0]
                if not phases or phases[-1] != phase:
                    phases.append(phase)
    return phases


async def test_launch_fault_rolls_back_to_the_previous_model(sim: Any) -> None:
    async with running_app(sim) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        sim.inject("spark1", "launch_fail", exit_code=3)

        def clear_at_rollback(job: JobRecord, phase: Phase) -> None:
            if phase == Phase.ROLLING_BACK:
                sim.clear_faults()  # the fault hit the new model's launch only

        cluster.runtime.engine.phase_listeners.append(clear_at_rollback)
        done = await cluster.swap_and_wait(OTHER)
        assert done["state"] == "failed" and done["returncode"] == 3
        assert "launch-cluster.sh exited with status 3" in done["error"]
        assert done["rolled_back_to"] == {"model_key": MODEL, "ready": True}
        assert sim.running_model() == MODEL
        assert cluster.runtime.served.current.key == MODEL
        assert cluster.runtime.served.current.state == "ready"
        phases = await phases_seen(cluster, done["job_id"])
        assert phases[-2:] == ["launching", "rolling_back"]
        lines = await job_log(cluster, done["job_id"])
        assert f"rollback: the swap to {OTHER} failed; relaunching {MODEL}" in lines
        assert f"rollback: {MODEL} is ready again" in lines
        failed = cluster.webhook.sent[-1]
        assert failed.event == "swap_failed" and failed.model_key == OTHER
        assert failed.rolled_back_to.model_key == MODEL and failed.rolled_back_to.ready  # type: ignore[union-attr]
        # The rolled-back model answers through the proxy.
        r = await cluster.client.post(
            "/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 1}
        )
        assert r.status_code == 200


async def test_stay_stopped_leaves_nothing_running(sim: Any) -> None:
    config = sim_config(sim, swap={"on_failure": "stay_stopped"})
    async with running_app(sim, config=config) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        sim.inject("spark1", "launch_fail", exit_code=3)
        done = await cluster.swap_and_wait(OTHER)
        assert done["state"] == "failed" and "rolled_back_to" not in done
        assert sim.running_model() is None
        assert cluster.runtime.served.current.state != "ready"
        failed = cluster.webhook.sent[-1]
        assert failed.event == "swap_failed" and failed.rolled_back_to is msgspec.UNSET
        assert b"rolled_back_to" not in msgspec.json.encode(failed)
        assert "rolling_back" not in await phases_seen(cluster, done["job_id"])


async def test_cancel_never_rolls_back(sim: Any) -> None:
    async with running_app(sim) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        sim.set_load_time(30)
        job_id = (await cluster.swap(OTHER)).json()["job_id"]
        entered = asyncio.Event()
        cluster.runtime.engine.phase_listeners.append(
            lambda job, phase: entered.set() if phase == Phase.LOADING else None
        )
        await asyncio.wait_for(entered.wait(), 30)
        assert (await cluster.client.post(f"/api/swap/{job_id}/cancel")).status_code == 202
        done = await cluster.wait_job(job_id)
        assert done["state"] == "cancelled" and "rolled_back_to" not in done
        assert sim.running_model() is None
        assert cluster.runtime.served.current.state == "stopped"
        assert "rolling_back" not in await phases_seen(cluster, job_id)
