"""The crash watchdog over the Spark simulator: a served model that dies after it was ready is
relaunched as a job of its own, and the watchdog gives up when it keeps crashing."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from app.events import EventBus
from app.services.monitor import ProbeSettings
from scripts.sparksim import containers
from tests.cluster import running_app, sim_config
from tests.waits import wait_until

MODEL = "gemma-3-27b"
PROBES = ProbeSettings(interval_s=0.1, timeout_s=1.0)
FAST_WATCHDOG = {"grace_s": 0.2, "backoff_s": 0.1}


def watchdog_events(events: EventBus) -> list[dict[str, Any]]:
    return [e.data for e in events.recent(1000) if e.kind == "watchdog"]


async def test_crash_after_ready_is_restarted_as_a_job(sim: Any) -> None:
    sim.inject("spark1", "crash_after_ready", seconds=1.0)
    # a long grace: only a relaunch that does not wait for it can pass
    config = sim_config(sim, watchdog={**FAST_WATCHDOG, "grace_s": 600.0})
    async with running_app(sim, config=config, probes=PROBES) as cluster:
        first = await cluster.swap_and_wait(MODEL)
        assert first["state"] == "ready"
        sim.clear_faults()  # the relaunched engine stays up

        async def restarted() -> dict[str, Any] | None:
            jobs = (await cluster.client.get("/api/swap")).json()["jobs"]
            newest = jobs[0]
            if newest["job_id"] != first["job_id"] and newest["state"] == "ready":
                return newest
            return None

        job = await wait_until(restarted, "the watchdog's relaunch to be ready", timeout=30)
        assert job["model_key"] == MODEL and job["origin"] == {"kind": "watchdog"}
        assert sim.running_model() == MODEL
        assert cluster.runtime.served.current.state == "ready"
        said = watchdog_events(cluster.runtime.events)
        assert [e["action"] for e in said] == ["crashed", "restarting", "restarted"]
        # the head was asked why: vLLM's root cause (printed before its EngineDeadError), and
        # a dead engine is relaunched at once
        assert said[0]["dead"] is True
        assert said[0]["message"] == (
            f"{MODEL} stopped answering after it was ready. vLLM on spark1 crashed: "
            "RuntimeError: CUDA error: an illegal memory access was encountered"
        )
        assert [e.event for e in cluster.webhook.sent] == ["swap_complete", "swap_complete"]


@pytest.mark.slow
async def test_watchdog_gives_up_after_the_third_crash(sim: Any) -> None:
    sim.inject("spark1", "crash_after_ready", seconds=1.0)  # every launch crashes
    config = sim_config(sim, watchdog={**FAST_WATCHDOG, "max_restarts": 2})
    async with running_app(sim, config=config, probes=PROBES) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"

        def gave_up() -> dict[str, Any] | None:
            found = [e for e in watchdog_events(cluster.runtime.events) if e["action"] == "gave_up"]
            return found[0] if found else None

        event = await wait_until(gave_up, "the watchdog to give up", timeout=60)
        assert "gives up" in event["message"] and event["restarts"] == 2
        actions = [e["action"] for e in watchdog_events(cluster.runtime.events)]
        assert actions.count("crashed") == 3 and actions.count("restarting") == 2
        jobs = (await cluster.client.get("/api/swap")).json()["jobs"]
        assert [j["origin"]["kind"] for j in jobs] == ["watchdog", "watchdog", "api"]
        assert cluster.runtime.served.current.state == "failed"


@pytest.mark.slow
async def test_watchdog_does_not_restart_while_the_lock_is_held_or_when_disabled(sim: Any) -> None:
    sim.inject("spark1", "crash_after_ready", seconds=1.0)
    config = sim_config(sim, watchdog=FAST_WATCHDOG)
    async with running_app(sim, config=config, probes=PROBES) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        grant = await cluster.client.post("/api/swap/lock", json={"holder": "nightly-eval"})
        assert grant.status_code == 200

        def waiting() -> bool:
            return any(e["action"] == "waiting" for e in watchdog_events(cluster.runtime.events))

        await wait_until(waiting, "the watchdog to say it waits for the lock", timeout=30)
        assert "nightly-eval" in watchdog_events(cluster.runtime.events)[-1]["message"]
        jobs = (await cluster.client.get("/api/swap")).json()["jobs"]
        assert [job["origin"]["kind"] for job in jobs] == ["api"]

    sim.inject("spark1", "crash_after_ready", seconds=1.0)
    config = sim_config(sim, watchdog={**FAST_WATCHDOG, "enabled": False})
    async with running_app(sim, config=config, probes=PROBES) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        await wait_until(
            lambda: cluster.runtime.served.current.state == "failed", "the crash to be seen"
        )
        await cluster.runtime.monitor.wait_rounds(5)
        assert watchdog_events(cluster.runtime.events) == []
        # The history also holds the first run's swap; neither run restarted anything.
        jobs = (await cluster.client.get("/api/swap")).json()["jobs"]
        assert [job["origin"]["kind"] for job in jobs] == ["api", "api"]


async def test_a_stalled_vllm_gets_the_grace_period_and_is_not_relaunched_when_it_recovers(
    sim: Any,
) -> None:
    """vLLM's process still runs but answers nothing (stopped with SIGSTOP, as a wedged engine):
    not dead, so the watchdog waits ``grace_s``; it answers again within it, nothing restarts."""
    config = sim_config(sim, watchdog={**FAST_WATCHDOG, "grace_s": 600.0})
    async with running_app(sim, config=config, probes=PROBES) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        head = sim.node("spark1").paths
        engine = next(r["vllm"]["pid"] for r in containers.all_records(head) if r.get("vllm"))
        os.killpg(engine, signal.SIGSTOP)
        try:

            def crashed() -> dict[str, Any] | None:
                said = watchdog_events(cluster.runtime.events)
                return said[0] if said else None

            event = await wait_until(crashed, "the watchdog to see the stall", timeout=30)
        finally:
            os.killpg(engine, signal.SIGCONT)
        assert event["dead"] is False
        assert event["message"] == (
            f"{MODEL} stopped answering after it was ready. "
            "Its health checks fail while vLLM still runs on spark1."
        )
        await wait_until(
            lambda: cluster.runtime.served.current.state == "ready", "the model to answer again"
        )
        await cluster.runtime.monitor.wait_rounds(3)
        assert [e["action"] for e in watchdog_events(cluster.runtime.events)] == ["crashed"]
        jobs = (await cluster.client.get("/api/swap")).json()["jobs"]
        assert [job["origin"]["kind"] for job in jobs] == ["api"]
