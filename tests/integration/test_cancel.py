"""Cancelling a swap never wedges the engine: a cancel is idempotent, every job ends in exactly
one terminal state, and the single-flight guard is released on every path — a cancel in any
phase, repeated any number of times, a cancel before the swap task took its first step, and a
shutdown. After each, a new swap runs to ``ready`` on its own.

The first cancel lands at the exact moment the engine enters the phase (through the engine's
synchronous phase listener); the repeats are concurrent HTTP cancels that arrive while the
cancellation's cleanup is running (a slow stop keeps it running long enough) or after it ended.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from app.swap.errors import JobFinished
from app.swap.jobs import JobRecord, JobState, Phase
from tests.cluster import ClusterHarness, running_app, simulator
from tests.waits import wait_until

MODEL = "gemma-3-27b"
OTHER = "qwen3-32b"
# The phases of every real swap (``rolling_back`` only follows a failure with rollback on).
PHASES = [p.value for p in Phase if p != Phase.ROLLING_BACK]
TERMINAL = {"ready", "failed", "cancelled"}


def terminal_states(job: JobRecord) -> list[str]:
    """Every terminal state the job ever recorded in its event log (the SSE stream's source)."""
    states = [e.data.state.value for e in job.events() if e.event == "state"]
    return [s for s in states if s in TERMINAL]


async def cancel_over_http(cluster: ClusterHarness, job_id: str, times: int) -> list[Any]:
    responses = await asyncio.gather(
        *(cluster.client.post(f"/api/swap/{job_id}/cancel") for _ in range(times))
    )
    return [(r.status_code, r.json()) for r in responses]


async def next_remote_command_or_end(cluster: ClusterHarness, job: JobRecord) -> None:
    """Wait until the simulated Sparks start another command, or the job has ended."""
    count = len(cluster.commands())
    await wait_until(
        lambda: job.terminal or len(cluster.commands()) > count, "a remote command", timeout=30
    )


async def assert_next_swap_runs_alone(cluster: ClusterHarness, key: str = MODEL) -> None:
    engine = cluster.runtime.engine
    assert engine.active is None, "the single-flight guard was not released"
    r = await cluster.swap(key)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    running = [j.job_id for j in engine.history.newest_first() if not j.terminal]
    assert running == [job_id], f"other jobs still running: {running}"
    done = await cluster.wait_job(job_id, timeout=60)
    assert done["state"] == "ready", done
    assert cluster.sim.container_running("spark1") and cluster.sim.container_running("spark2")
    status = (await cluster.client.get("/api/status")).json()
    assert status.get("swap") is None


async def cancel_at(cluster: ClusterHarness, phase: str, times: int) -> dict[str, Any]:
    """Start a swap, cancel it ``times`` times from the moment it enters ``phase``, and return
    the finished job as the API shows it."""
    engine = cluster.runtime.engine
    repeats: list[asyncio.Task[list[Any]]] = []

    def at_phase(job: JobRecord, entered: Phase) -> None:
        if entered.value != phase or job.cancel_requested:
            return
        # Keep the cancel's cleanup (launch-cluster.sh stop) running while repeats arrive.
        cluster.sim.inject("spark1", "slow_stop", seconds=1.0)
        first = engine.cancel(job.job_id)
        assert first.job_id == job.job_id and first.state == JobState.RUNNING
        if times > 1:
            repeats.append(asyncio.ensure_future(cancel_over_http(cluster, job.job_id, times - 1)))

    engine.phase_listeners.append(at_phase)
    try:
        r = await cluster.swap(MODEL)
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        done = await cluster.wait_job(job_id, timeout=30)
    finally:
        engine.phase_listeners.remove(at_phase)
        cluster.sim.clear_faults()
    for status_code, body in [item for task in repeats for item in await task]:
        # A repeat during the cleanup or after it: the same job, nothing changed, never 409.
        assert status_code == 202, body
        assert body["job_id"] == job_id and body["state"] in ("running", "cancelled")
    record = engine.job(job_id)
    assert terminal_states(record) == ["cancelled"], terminal_states(record)
    return done


# 2 and 25 cancels in every phase are several swaps each: the whole suite runs them.
@pytest.mark.parametrize(
    "times", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(25, marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("phase", PHASES)
async def test_cancel_in_every_phase_then_swap_alone(sim: Any, phase: str, times: int) -> None:
    async with running_app(sim) as cluster:
        if phase != PHASES[0]:  # past preflight, the swap has a running model to stop
            assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
        sim.set_load_time(2.0)  # loading lasts long enough for a cancel to land inside it
        done = await cancel_at(cluster, phase, times)
        assert done["state"] == "cancelled", done
        assert done["error"] == "The swap was cancelled from the dashboard.", done
        if phase != "preflight":  # the cluster was touched: it is left stopped
            assert not cluster.sim.container_running("spark1")
        again = await cluster.client.post(f"/api/swap/{done['job_id']}/cancel")
        assert again.status_code == 202 and again.json()["state"] == "cancelled"
        sim.set_load_time(0.3)
        await assert_next_swap_runs_alone(cluster)


@pytest.mark.parametrize("times", [1, 2, 25])
async def test_cancel_before_the_first_step(cluster: ClusterHarness, times: int) -> None:
    engine = cluster.runtime.engine
    job = engine.start(MODEL)
    # No await between start and the cancels: the swap task has not run a single step.
    views = [engine.cancel(job.job_id) for _ in range(times)]
    assert {v.job_id for v in views} == {job.job_id}
    done = await cluster.wait_job(job.job_id, timeout=10)
    assert done["state"] == "cancelled" and done["phase"] is None, done
    assert terminal_states(engine.job(job.job_id)) == ["cancelled"]
    assert not any("launch-cluster.sh" in c for c in cluster.commands() if "test -x" not in c)
    await assert_next_swap_runs_alone(cluster)


async def test_shutdown_before_the_first_step_ends_the_job(sim: Any) -> None:
    async with running_app(sim) as cluster:
        engine = cluster.runtime.engine
        job = engine.start(MODEL)
        await engine.shutdown()
        record = engine.job(job.job_id)
        assert record.state == JobState.FAILED
        assert record.error == "Spark Control stopped while the swap was running."
        assert terminal_states(record) == ["failed"]
        assert engine.active is None


async def test_a_finished_job_refuses_cancel(cluster: ClusterHarness) -> None:
    done = await cluster.swap_and_wait(MODEL)
    r = await cluster.client.post(f"/api/swap/{done['job_id']}/cancel")
    assert r.status_code == 409
    assert r.json()["detail"] == f"Swap job {done['job_id']} has already finished (ready)."


async def test_cancel_stream_ends_once(cluster: ClusterHarness) -> None:
    """The job's SSE stream ends after its one terminal event, even with a double cancel."""
    engine = cluster.runtime.engine
    entered = asyncio.Event()

    def at_stopping(job: JobRecord, phase: Phase) -> None:
        if phase == Phase.STOPPING:
            cluster.sim.inject("spark1", "slow_stop", seconds=1.0)
            engine.cancel(job.job_id)
            entered.set()

    engine.phase_listeners.append(at_stopping)
    r = await cluster.swap(MODEL)
    job_id = r.json()["job_id"]
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        async with cluster.client.stream("GET", f"/api/swap/{job_id}/stream") as stream:
            await entered.wait()
            await cancel_over_http(cluster, job_id, 2)
            async for line in stream.aiter_lines():
                if line.startswith("data:") and line[5:].strip():
                    events.append(json.loads(line[5:]))
    states = [e["state"] for e in events if "state" in e]
    assert states[-1] == "cancelled" and states.count("cancelled") == 1


@pytest.mark.slow
async def test_random_cancels_and_swaps_never_wedge(tmp_path: Any) -> None:
    """Seeded random interleavings of swaps and bursts of cancels (direct and over HTTP, at
    random moments): never two jobs running at once, every job ends in one terminal state,
    and afterwards a swap runs to ready."""
    rng = random.Random(20261201)
    async with simulator(tmp_path / "sim", load_time=0.5) as sim, running_app(sim) as cluster:
        engine = cluster.runtime.engine
        seen: list[str] = []
        overlap: list[list[str]] = []

        def check(job: JobRecord, _phase: Phase) -> None:
            running = [j.job_id for j in engine.history.newest_first() if not j.terminal]
            if len(running) > 1:
                overlap.append(running)

        engine.phase_listeners.append(check)
        for _ in range(12):
            r = await cluster.swap(rng.choice([MODEL, OTHER]))
            if r.status_code == 409:  # a previous job is still finishing its cancel
                await cluster.wait_job(r.json()["job_id"], timeout=30)
                continue
            assert r.status_code == 202, r.text
            job_id = r.json()["job_id"]
            seen.append(job_id)
            for _ in range(rng.randrange(0, 25)):  # let the swap run a random number of steps
                await next_remote_command_or_end(cluster, engine.job(job_id))
            for _ in range(rng.randrange(1, 6)):
                if rng.random() < 0.5:
                    try:
                        engine.cancel(job_id)
                    except JobFinished:
                        pass  # the swap reached ready before this cancel
                else:
                    for code, body in await cancel_over_http(cluster, job_id, rng.randrange(1, 4)):
                        assert code in (202, 409), body
                if rng.random() < 0.5:  # the next cancel lands while the cleanup runs
                    await next_remote_command_or_end(cluster, engine.job(job_id))
            await cluster.wait_job(job_id, timeout=30)
        assert overlap == []
        for job_id in seen:
            record = engine.job(job_id)
            assert len(terminal_states(record)) == 1, (job_id, terminal_states(record))
        await assert_next_swap_runs_alone(cluster)
