"""How a download ends when something arrives from outside the job: Spark Control shutting down
mid-file or mid-copy, a cancel before the job's first step, a cancel during the copy. Each ends
the job in exactly one terminal state (one terminal ``state`` event on its stream and on the
bus), stops what it started on the Sparks, records the ending in the history database and
frees the model for the next download."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.clock import isoformat
from app.downloads import DownloadState
from app.downloads.job import DownloadRecord
from app.storage import Storage
from scripts.sparksim import SparkSim, containers, procs
from tests.cluster import ClusterHarness, running_app, sim_config
from tests.downloads.test_download_flow import MIB, add_and_download, wait_download
from tests.sse import open_sse
from tests.waits import wait_until

STOPPED = "Spark Control stopped during the download."
CANCELLED = "The download was cancelled."
TERMINAL = {"done", "failed", "cancelled"}


def node_processes(sim: SparkSim, node: str, program: str) -> list[int]:
    """Live processes named ``program`` that simulated Spark ``node`` runs: its SSH server
    starts every command with ``SIM_ROOT`` and ``SIM_NODE`` naming it, and children inherit
    them (rsync's own ssh, the receiving ``rsync --server``)."""
    marks = {f"SIM_ROOT={sim.root}".encode(), f"SIM_NODE={node}".encode()}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            env = set(Path(entry.path, "environ").read_bytes().split(b"\0"))
            state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours
            continue
        if argv[0] and Path(os.fsdecode(argv[0])).name == program and marks <= env:
            if state not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def copy_processes(sim: SparkSim) -> list[int]:
    """rsync (and the ssh it pushes over) on the head, the receiving rsync on the worker."""
    return [
        *node_processes(sim, "spark1", "rsync"),
        *node_processes(sim, "spark1", "ssh"),
        *node_processes(sim, "spark2", "rsync"),
    ]


def touched(cluster: ClusterHarness, since: int, repo_dir: str) -> list[str]:
    """Commands after the ``since``-th that name the repo's cache directory, other than the
    disk-usage scan every ended download triggers."""
    return [c for c in cluster.commands()[since:] if repo_dir in c and not c.startswith("du -sk")]


def terminal_bus_events(app: ClusterHarness, download_id: str) -> list[dict[str, Any]]:
    return [
        e.data
        for e in app.runtime.events.recent(1000)
        if e.kind == "download"
        and e.data["download_id"] == download_id
        and e.data["state"] in TERMINAL
    ]


async def terminal_log_events(job: DownloadRecord) -> list[Any]:
    """The terminal ``state`` events of the job's own log (what its SSE stream replays)."""
    return [
        e.data
        async for e in job.follow(0)
        if e is not None and e.event == "state" and e.data.state.terminal
    ]


def nothing_left_on_the_sparks(sim: SparkSim) -> bool:
    """No process the simulated fakes detached (the download container's ``hf``), no copy
    process, no download container record on the head."""
    detached = [int(p.name) for p in sim.paths.pids.iterdir() if procs.alive(int(p.name))]
    records = [r for r in containers.all_records(sim.head.paths) if "download" in r["name"]]
    return not detached and not copy_processes(sim) and not records


def partial_blob(sim: SparkSim, node: str, repo: str, at_least: int) -> bool:
    """Whether ``node`` holds a file of ``repo`` in flight (``hf``'s ``.incomplete`` or
    rsync's hidden temporary file) of ``at_least`` bytes."""
    blobs = repo_dir_of(sim, node, repo) / "blobs"
    for path in blobs.glob("*") if blobs.is_dir() else ():
        try:
            if path.stat().st_size >= at_least and (
                path.name.endswith(".incomplete") or path.name.startswith(".")
            ):
                return True
        except FileNotFoundError:  # renamed into place meanwhile
            continue
    return False


def repo_dir_of(sim: SparkSim, node: str, repo: str) -> Path:
    return sim.node(node).paths.hf_hub / ("models--" + repo.replace("/", "--"))


def database(sim: SparkSim, tmp_path: Path) -> Any:
    (tmp_path / "data").mkdir()
    return sim_config(sim, storage={"database": str(tmp_path / "data" / "spark-control.db")})


# --- Spark Control stops while a download runs -----------------------------------------------


async def test_shutdown_mid_file_fails_the_download_once_and_stops_it_on_the_head(
    sim: SparkSim, tmp_path: Path
) -> None:
    config = database(sim, tmp_path)
    sim.hub.set_size("sparksim/halted", 12 * MIB)
    sim.hub.inject("slow", bps=MIB)
    # Leaving the block stops the server and the runtime: the harness fails the test if that
    # takes longer than its wait for the server (tests.servers.serve).
    async with running_app(sim, config=config) as first:
        started = await add_and_download(first, "halted", "sparksim/halted")
        await wait_until(
            lambda: partial_blob(sim, "spark1", "sparksim/halted", MIB),
            "the head to have part of the file",
            timeout=60,
        )
        job = first.runtime.downloads.history.get(started["download_id"])
        assert job is not None and job.state == DownloadState.RUNNING
        assert job.view().phase == "downloading"
        assert [r["name"] for r in containers.all_records(sim.head.paths)] == [
            f"spark-control-download-{started['download_id']}"
        ]
    ended = job.view()
    assert ended.state == DownloadState.FAILED and ended.error == STOPPED
    assert [e["error"] for e in terminal_bus_events(first, started["download_id"])] == [STOPPED]
    assert [e.state for e in await terminal_log_events(job)] == [DownloadState.FAILED]
    # the container and the hf in it are gone; nothing else of the download runs
    await wait_until(lambda: nothing_left_on_the_sparks(sim), "no process left by the download")
    sim.hub.clear_faults()
    async with running_app(sim, config=config) as second:
        recorded = await second.runtime.storage.downloads.recent(model_key="halted")
        assert [(d["download_id"], d["state"], d["error"]) for d in recorded] == [
            (started["download_id"], "failed", STOPPED)
        ]
        assert recorded[0]["finished_at"] is not None
        # the model is free to download again, and the files the first one finished stay
        again = await second.client.post("/api/models/halted/download")
        assert again.status_code == 202, again.text
        finished = await wait_download(second, again.json()["download_id"])
        assert finished["state"] == "done", finished


async def test_a_download_a_hard_stop_left_running_is_listed_failed_after_the_restart(
    sim: SparkSim, tmp_path: Path
) -> None:
    config = database(sim, tmp_path)
    # what a killed Spark Control (no clean stop) leaves in the history: the job as it started
    left = Storage(config.storage.database, now=lambda: datetime.now(UTC))
    left.db.start()
    left.downloads.record_download(
        {
            "download_id": "0badf00d",
            "model_key": "gemma-3-27b",
            "state": "queued",
            "started_at": isoformat(datetime.now(UTC)),
            "finished_at": None,
            "error": None,
        }
    )
    left.db.close()
    async with running_app(sim, config=config) as app:
        recorded = await app.runtime.storage.downloads.recent()
    assert [(d["download_id"], d["state"], d["error"]) for d in recorded] == [
        ("0badf00d", "failed", STOPPED)
    ]
    assert recorded[0]["finished_at"] is not None


async def test_shutdown_during_a_cancels_clean_up_waits_for_it(
    sim: SparkSim, tmp_path: Path
) -> None:
    config = database(sim, tmp_path)
    sim.hub.set_size("sparksim/twice", 12 * MIB)
    sim.hub.inject("slow", bps=MIB)
    async with running_app(sim, config=config) as first:
        started = await add_and_download(first, "twice", "sparksim/twice")
        download_id = started["download_id"]
        await wait_until(
            lambda: partial_blob(sim, "spark1", "sparksim/twice", MIB),
            "the head to have part of the file",
            timeout=60,
        )
        sim.inject("spark1", "slow_stop", seconds=3.0)  # holds the cancel's `docker rm -f`
        r = await first.client.post(f"/api/downloads/{download_id}/cancel")
        assert r.status_code == 202
        removal = f"docker rm -f spark-control-download-{download_id}"
        await wait_until(
            lambda: removal in sim.node("spark1").commands, "the cancel's clean-up to start"
        )
        job = first.runtime.downloads.history.get(download_id)
        assert job is not None and not job.terminal
        # leaving the block stops Spark Control while the container is being removed
    ended = job.view()
    assert (ended.state, ended.error) == (DownloadState.CANCELLED, CANCELLED)
    assert [e["state"] for e in terminal_bus_events(first, download_id)] == ["cancelled"]
    assert len(await terminal_log_events(job)) == 1
    # the removal was not cut short: the container and its hf are gone
    await wait_until(lambda: nothing_left_on_the_sparks(sim), "no process left by the download")
    assert sim.node("spark1").commands.count(removal) == 1
    sim.clear_faults()
    async with running_app(sim, config=config) as second:
        recorded = await second.runtime.storage.downloads.recent(model_key="twice")
        assert [(d["state"], d["error"]) for d in recorded] == [("cancelled", CANCELLED)]


async def test_shutdown_before_the_first_step_fails_the_job_without_touching_a_spark(
    cluster: ClusterHarness,
) -> None:
    r = await cluster.client.post("/api/models", json={"key": "never", "repo": "sparksim/never"})
    assert r.status_code == 201, r.text
    downloads = cluster.runtime.downloads
    commands_before = len(cluster.commands())
    # the start and the shutdown in one turn of the event loop: the job's task never ran
    started = downloads.start("never")
    await downloads.shutdown()
    ended = downloads.job(started.download_id).view()
    assert (ended.state, ended.error) == (DownloadState.FAILED, STOPPED)
    assert [e["state"] for e in terminal_bus_events(cluster, started.download_id)] == ["failed"]
    assert not [p for _, p, _ in cluster.sim.hub.requests if "sparksim/never" in p]
    assert not touched(cluster, commands_before, "sparksim--never")
    recorded = await cluster.runtime.storage.downloads.recent(model_key="never")
    assert [d["state"] for d in recorded] == ["failed"]


# --- a cancel before the job's first step ----------------------------------------------------


async def test_cancel_before_the_first_step_ends_the_job_once_and_frees_the_model(
    cluster: ClusterHarness,
) -> None:
    cluster.sim.hub.set_size("sparksim/early", 2 * MIB)
    r = await cluster.client.post("/api/models", json={"key": "early", "repo": "sparksim/early"})
    assert r.status_code == 201, r.text
    downloads = cluster.runtime.downloads
    commands_before = len(cluster.commands())
    # the start and two cancels in one turn of the event loop: the job's task has not run
    started = downloads.start("early")
    first = downloads.cancel(started.download_id)
    second = downloads.cancel(started.download_id)
    assert started.state == first.state == second.state == DownloadState.QUEUED
    ended = await wait_download(cluster, started.download_id, timeout=30)
    assert (ended["state"], ended["error"]) == ("cancelled", CANCELLED)
    assert ended["finished_at"] is not None
    assert [e["state"] for e in terminal_bus_events(cluster, started.download_id)] == ["cancelled"]
    async with open_sse(cluster.client, f"/api/downloads/{started.download_id}/stream") as s:
        states = [e.data["state"] for e in await s.rest() if e.event == "state"]
    assert states[-1] == "cancelled" and sum(s in TERMINAL for s in states) == 1
    assert "running" not in states  # it never started
    # nothing was asked of the hub or of a Spark
    assert not [p for _, p, _ in cluster.sim.hub.requests if "sparksim/early" in p]
    assert not touched(cluster, commands_before, "sparksim--early")
    r = await cluster.client.post(f"/api/downloads/{started.download_id}/cancel")
    assert r.status_code == 202 and r.json()["state"] == "cancelled"
    # the model is free again: the next download is accepted and completes
    again = await cluster.client.post("/api/models/early/download")
    assert again.status_code == 202, again.text
    done = await wait_download(cluster, again.json()["download_id"])
    assert done["state"] == "done", done
    recorded = await cluster.runtime.storage.downloads.recent(model_key="early")
    assert [d["state"] for d in recorded] == ["done", "cancelled"]
    assert nothing_left_on_the_sparks(cluster.sim)


async def test_cancel_twice_right_after_the_202_ends_the_job_once(cluster: ClusterHarness) -> None:
    cluster.sim.hub.set_size("sparksim/prompt", 2 * MIB)
    r = await cluster.client.post("/api/models", json={"key": "prompt", "repo": "sparksim/prompt"})
    assert r.status_code == 201, r.text
    started = await cluster.client.post("/api/models/prompt/download")
    assert started.status_code == 202, started.text
    download_id = started.json()["download_id"]
    first = await cluster.client.post(f"/api/downloads/{download_id}/cancel")
    second = await cluster.client.post(f"/api/downloads/{download_id}/cancel")
    assert first.status_code == second.status_code == 202
    ended = await wait_download(cluster, download_id, timeout=30)
    assert (ended["state"], ended["error"]) == ("cancelled", CANCELLED)
    assert len(terminal_bus_events(cluster, download_id)) == 1
    async with open_sse(cluster.client, f"/api/downloads/{download_id}/stream") as s:
        states = [e.data["state"] for e in await s.rest() if e.event == "state"]
    assert sum(s in TERMINAL for s in states) == 1 and states[-1] == "cancelled"
    await wait_until(lambda: nothing_left_on_the_sparks(cluster.sim), "nothing left running")
    again = await cluster.client.post("/api/models/prompt/download")
    assert again.status_code == 202, again.text
    assert (await wait_download(cluster, again.json()["download_id"]))["state"] == "done"


# --- the copy to a worker stops with the job -------------------------------------------------


@pytest.mark.parametrize("ending", ["cancel", "shutdown"])
async def test_the_copy_to_a_worker_stops_with_the_job(
    sim: SparkSim, tmp_path: Path, ending: str
) -> None:
    config = database(sim, tmp_path)
    sim.hub.set_size("sparksim/linked", 12 * MIB)
    sim.inject("spark2", "slow_link", bps=float(MIB))  # rsync to spark2 takes ~12 s
    async with running_app(sim, config=config) as app:
        started = await add_and_download(app, "linked", "sparksim/linked")
        download_id = started["download_id"]
        await wait_until(
            lambda: partial_blob(sim, "spark2", "sparksim/linked", MIB),
            "the worker to have part of the copy",
            timeout=60,
        )
        job = app.runtime.downloads.history.get(download_id)
        assert job is not None and job.view().phase == "copying"
        assert node_processes(sim, "spark1", "rsync") and node_processes(sim, "spark2", "rsync")
        if ending == "cancel":
            r = await app.client.post(f"/api/downloads/{download_id}/cancel")
            assert r.status_code == 202
            await wait_download(app, download_id)
    ended = job.view()
    expected = (
        (DownloadState.CANCELLED, CANCELLED)
        if ending == "cancel"
        else (DownloadState.FAILED, STOPPED)
    )
    assert (ended.state, ended.error) == expected
    assert len(terminal_bus_events(app, download_id)) == 1
    assert len(await terminal_log_events(job)) == 1
    # rsync on the head (and its ssh) and the receiving rsync on the worker are stopped
    await wait_until(lambda: not copy_processes(sim), "the copy's processes to end", timeout=15)
    assert nothing_left_on_the_sparks(sim)
    sim.clear_faults()
    async with running_app(sim, config=config) as again:
        recorded = await again.runtime.storage.downloads.recent(model_key="linked")
        assert [(d["state"], d["error"]) for d in recorded] == [(expected[0].value, expected[1])]
        r = await again.client.post("/api/models/linked/download")
        assert r.status_code == 202, r.text
        finished = await wait_download(again, r.json()["download_id"])
        assert finished["state"] == "done", finished
