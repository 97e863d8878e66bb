"""The crash watchdog over the Spark simulator: a served model that dies after it was ready is
relaunched as a job of its own, and the watchdog gives up when it keeps crashing."""

from __future__ import annotations

from typing import Any

from app.events import EventBus
from app.services.monitor import ProbeSettings
from tests.cluster import running_app, sim_config
from tests.waits import wait_until

MODEL = "gemma-3-27b"
PROBES = ProbeSettings(interval_s=0.1, timeout_s=1.0)
FAST_WATCHDOG = {"grace_s": 0.2, "backoff_s": 0.1}


def watchdog_events(events: EventBus) -> list[dict[str, Any]]:
    return [e.data for e in events.recent(1000) if e.kind == "watchdog"]


async def test_crash_after_ready_is_restarted_as_a_job(sim: Any) -> None:
    sim.inject("spark1", "crash_after_ready", seconds=1.0)
    config = sim_config(sim, watchdog=FAST_WATCHDOG)
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
        actions = [e["action"] for e in watchdog_events(cluster.runtime.events)]
        assert actions == ["crashed", "restarting", "restarted"]
        assert [e.event for e in cluster.webhook.sent] == ["swap_complete", "swap_complete"]


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
