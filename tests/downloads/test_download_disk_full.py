"""A disk that fills up mid-transfer: a small real filesystem (tmpfs) under the repo's cache
directory, so the real ``hf`` and the real ``rsync`` get ENOSPC from the kernel. The download
ends ``failed`` with one sentence naming the node; what was written is kept, and once space is
freed the next download completes and verifies."""

from __future__ import annotations

import pytest

from scripts.sparksim import containers, diskfull
from tests.cluster import ClusterHarness, simulator
from tests.downloads.test_download_flow import MIB, add_and_download, repo_dir, wait_download


def fill_disk(cluster: ClusterHarness, node: str, repo: str, mib: int) -> None:
    try:
        cluster.sim.inject(node, "disk_full", repo=repo, mib=mib)
    except diskfull.MountUnavailable as err:
        pytest.skip(f"a disk-full test needs to mount a tmpfs (root): {err}")


def config_fetches(cluster: ClusterHarness) -> int:
    return sum(
        1 for m, p, _ in cluster.sim.hub.requests if m == "GET" and p.endswith("/config.json")
    )


async def test_the_head_disk_fills_during_the_hf_download(cluster: ClusterHarness) -> None:
    repo = "sparksim/fullhead"
    cluster.sim.hub.set_size(repo, 8 * MIB)
    fill_disk(cluster, "spark1", repo, mib=2)
    started = await add_and_download(cluster, "fullhead", repo)
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "failed"
    assert done["error"] == (
        "spark1 ran out of disk space while downloading sparksim/fullhead; "
        "free some space and download again."
    )
    head = cluster.sim.node("spark1").paths
    assert not [r for r in containers.all_records(head) if "download" in r["name"]]
    # the small files hf finished stay; the worker was never copied to
    commit = cluster.sim.hub.repo(repo).commit
    assert (repo_dir(cluster, "spark1", repo) / "snapshots" / commit / "config.json").is_file()
    assert not repo_dir(cluster, "spark2", repo).exists()
    assert config_fetches(cluster) == 1

    fill_disk(cluster, "spark1", repo, mib=64)  # space freed: the same filesystem, larger
    again = await cluster.client.post("/api/models/fullhead/download")
    finished = await wait_download(cluster, again.json()["download_id"])
    assert finished["state"] == "done", finished
    assert [n["state"] for n in finished["nodes"]] == ["verified", "verified"]
    assert config_fetches(cluster) == 1  # the kept files were not fetched again
    assert (await cluster.client.post("/api/models/fullhead/verify")).json()["ok"] is True


async def test_a_worker_disk_fills_during_the_copy(cluster: ClusterHarness) -> None:
    repo = "sparksim/fullworker"
    cluster.sim.hub.set_size(repo, 8 * MIB)
    fill_disk(cluster, "spark2", repo, mib=4)
    started = await add_and_download(cluster, "fullworker", repo)
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "failed"
    assert done["error"] == (
        "spark2 ran out of disk space while copying sparksim/fullworker from spark1; "
        "free some space and download again."
    )
    # rsync --partial kept what it had received of the weights on the worker
    big = cluster.sim.hub.repo(repo).file("model.safetensors")
    partial = repo_dir(cluster, "spark2", repo) / "blobs" / big.sha256
    assert 0 < partial.stat().st_size < big.size

    cluster.sim.clear_faults("spark2")  # space freed: the files move to the main disk
    assert not diskfull.is_mounted(repo_dir(cluster, "spark2", repo))
    assert 0 < partial.stat().st_size < big.size
    again = await cluster.client.post("/api/models/fullworker/download")
    finished = await wait_download(cluster, again.json()["download_id"])
    assert finished["state"] == "done", finished
    # the head already had everything: the second job only copied
    runs = [c for c in cluster.sim.node("spark1").commands if c.startswith("docker run")]
    assert len(runs) == 1
    assert (await cluster.client.post("/api/models/fullworker/verify")).json()["ok"] is True


async def test_the_simulator_unmounts_a_full_disk_when_it_stops(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path)) / "sim"
    async with simulator(root) as sim:
        try:
            sim.inject("spark2", "disk_full", repo="sparksim/leftover", mib=1)
        except diskfull.MountUnavailable as err:
            pytest.skip(f"a disk-full test needs to mount a tmpfs (root): {err}")
        where = diskfull.target(sim.node("spark2").paths, "sparksim/leftover")
        assert diskfull.is_mounted(where)
        with pytest.raises(OSError, match="No space left on device"):
            (where / "filler").write_bytes(b"\0" * (2 * MIB))
    assert not diskfull.is_mounted(where)
