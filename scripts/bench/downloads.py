"""Weights download figures on the Spark simulator (real SSH, real rsync, real ``hf`` CLI).

* **copy throughput** head → worker of a 1 GiB model: the ``copying`` phase of a download whose
  head already holds the model (the worker's copy deleted first), against plain ``rsync -a``
  of the same directory to the same place over the same SSH (goal ≥ 0.9x);
* **verification throughput**: the hash-level check of one node (``sha256sum`` of every LFS
  blob over SSH, size check included) against a plain local ``sha256sum`` of the same files
  (goal ≥ 0.9x);
* **Download → swap ready**: a ``sparksim/`` model of the demo's size (256 MiB) added with
  "Download, then swap", from the request to the swap's ``ready``, with the demo's 4 s load.

Each figure is the median of ROUNDS rounds.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from app.catalog.models import ModelDef
from app.config import parse_config
from app.coordination.webhook import WebhookSender
from app.downloads import verify
from app.downloads.remote import repo_dir
from app.runtime import Runtime
from scripts.sparksim import SparkSim

GIB = 1024**3
MIB = 1024**2
ROUNDS = 3
BIG_REPO = "sparksim/bench-1g"
DEMO_REPO = "sparksim/bench-demo"
DEMO_SIZE = 256 * MIB
DEMO_LOAD_S = 4.0


async def _run_download(runtime: Runtime, key: str, *, then_swap: bool = False) -> dict[str, float]:
    """Start a download of ``key`` and return when each phase started / the job ended."""
    marks: dict[str, float] = {}
    sub = runtime.events.subscribe()
    try:
        job = runtime.downloads.start(key, then_swap=then_swap)
        marks["start"] = time.monotonic()
        while True:
            event = await sub.next(timeout=600)
            if event.kind != "download" or event.data["download_id"] != job.download_id:
                continue
            now = time.monotonic()
            phase = event.data.get("phase")
            if phase and phase not in marks:
                marks[phase] = now
            if event.data["state"] in ("done", "failed", "cancelled"):
                if event.data["state"] != "done":
                    raise RuntimeError(
                        f"download ended {event.data['state']}: {event.data['error']}"
                    )
                marks["end"] = now
                # the swap starts right after the job ends (a later event names it)
                marks["swap_job"] = runtime.downloads.job(job.download_id).swap_job_id or ""  # type: ignore[assignment]
                return marks
    finally:
        sub.close()


def _plain_rsync(sim: SparkSim, source: Path, dest_rel: str) -> float:
    """Seconds for ``rsync -a`` of ``source`` to the worker over the head's SSH."""
    head, worker = sim.nodes[0], sim.nodes[1]
    env = {**os.environ, "PATH": f"{head.paths.bin}:/usr/bin:/bin", "HOME": str(head.home)}
    started = time.monotonic()
    subprocess.run(
        [
            "rsync",
            "-a",
            "-e",
            f"ssh -p {worker.ssh_port}",
            f"{source}/",
            f"{worker.user}@{worker.host}:{dest_rel}/",
        ],
        check=True,
        env=env,
        cwd=head.home,
    )
    return time.monotonic() - started


def _plain_sha256(files: list[Path]) -> float:
    started = time.monotonic()
    subprocess.run(["sha256sum", *map(str, files)], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


async def measure() -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {
        "ours": [],
        "rsync": [],
        "hash": [],
        "sha256sum": [],
        "e2e": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-downloads-") as tmp:
        async with SparkSim(Path(tmp) / "sim", load_time=DEMO_LOAD_S, token_rate=200.0) as sim:
            sim.hub.set_size(BIG_REPO, GIB)
            sim.hub.set_size(DEMO_REPO, DEMO_SIZE)
            config = parse_config(sim.config_dict(), {})
            runtime = Runtime(config, webhook=WebhookSender(""))
            await runtime.start()
            try:
                await runtime.catalog_manager.add(_model("bench-1g", BIG_REPO))
                await runtime.catalog_manager.add(_model("bench-demo", DEMO_REPO))
                await _run_download(runtime, "bench-1g")  # head and worker get the model
                plan = runtime.downloads.manifests.get("bench-1g")
                assert plan is not None
                head_dir = sim.nodes[0].paths.hf_hub / ("models--" + BIG_REPO.replace("/", "--"))
                worker_dir = sim.nodes[1].paths.hf_hub / head_dir.name
                rel = str(worker_dir.relative_to(sim.nodes[1].home))
                for _ in range(ROUNDS):
                    await asyncio.to_thread(shutil.rmtree, worker_dir)
                    marks = await _run_download(runtime, "bench-1g")
                    figures["ours"].append(marks["verifying"] - marks["copying"])
                    await asyncio.to_thread(shutil.rmtree, worker_dir)
                    # in a thread: the worker's SSH server runs on this event loop
                    figures["rsync"].append(
                        await asyncio.to_thread(_plain_rsync, sim, head_dir, rel)
                    )
                    blobs = [head_dir / "blobs" / f.blob for f in plan.files if f.lfs]
                    started = time.monotonic()
                    state = await verify.hash_node(
                        runtime.ssh, "spark1", repo_dir(config, plan.repo), plan
                    )
                    figures["hash"].append(time.monotonic() - started)
                    assert state.complete and state.hashed
                    figures["sha256sum"].append(await asyncio.to_thread(_plain_sha256, blobs))
                figures["bytes"] = [float(plan.total_bytes)]
                figures["hashed_bytes"] = [float(sum(f.size for f in plan.files if f.lfs))]
                _report_copy_and_hash(figures)
                for _ in range(ROUNDS):
                    for node in sim.nodes:
                        await asyncio.to_thread(
                            shutil.rmtree,
                            node.paths.hf_hub / "models--sparksim--bench-demo",
                            ignore_errors=True,
                        )
                    marks = await _run_download(runtime, "bench-demo", then_swap=True)
                    swap = await runtime.engine.wait(str(marks["swap_job"]))
                    if swap.state != "ready":
                        raise RuntimeError(f"the swap ended {swap.state}: {swap.error}")
                    figures["e2e"].append(time.monotonic() - marks["start"])
                    # the next round's swap must stop this model: swap away first
                    away = runtime.engine.start("gemma-3-27b")
                    await runtime.engine.wait(away.job_id)
            finally:
                await runtime.stop()
    return figures


def _model(key: str, repo: str) -> ModelDef:
    return ModelDef(key=key, repo=repo)


def _report_copy_and_hash(f: dict[str, list[float]]) -> None:
    size = f["bytes"][0]
    ours, plain = statistics.median(f["ours"]), statistics.median(f["rsync"])
    print(
        f"copy head -> worker, {size / GIB:.2f} GiB: {size / ours / MIB:.0f} MiB/s "
        f"(median {ours:.2f} s) vs plain rsync {size / plain / MIB:.0f} MiB/s "
        f"(median {plain:.2f} s): {plain / ours:.2f}x (goal >= 0.9x)"
    )
    hashed = f["hashed_bytes"][0]
    ours, plain = statistics.median(f["hash"]), statistics.median(f["sha256sum"])
    print(
        f"verification of one node, {hashed / GIB:.2f} GiB hashed: {hashed / ours / MIB:.0f} MiB/s "
        f"(median {ours:.2f} s) vs sha256sum {hashed / plain / MIB:.0f} MiB/s "
        f"(median {plain:.2f} s): {plain / ours:.2f}x (goal >= 0.9x)",
        flush=True,
    )


def main() -> None:
    f = asyncio.run(measure())
    print(
        f"Download -> swap ready, {DEMO_SIZE // MIB} MiB sparksim model, {DEMO_LOAD_S:g} s load: "
        f"median {statistics.median(f['e2e']):.2f} s, max {max(f['e2e']):.2f} s over {len(f['e2e'])} runs"
    )


if __name__ == "__main__":
    main()
