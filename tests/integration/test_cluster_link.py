"""Sparks with cluster-link addresses (``sparks[].cluster_address``): a swap names them in
launch-cluster.sh's ``-n`` (the simulator refuses any other address there, as the real script
could not reach it), the weights copy goes to the worker's cluster address, and Spark Control
itself still reaches every Spark at its ``host``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.config import parse_config
from scripts.sparksim import SparkSim
from tests.cluster import ClusterHarness, running_app, sim_config, simulator

MODEL = "gemma-3-27b"
MIB = 1024 * 1024


@pytest.fixture
async def linked_sim(tmp_path: Path) -> AsyncIterator[SparkSim]:
    async with simulator(tmp_path / "sim", cluster_link=True) as sim:
        yield sim


@pytest.fixture
async def linked(linked_sim: SparkSim) -> AsyncIterator[ClusterHarness]:
    async with running_app(linked_sim) as harness:
        yield harness


def launches(cluster: ClusterHarness) -> list[str]:
    return [c for c in cluster.sim.node("spark1").commands if "launch-cluster.sh" in c]


async def test_swap_names_the_cluster_addresses_and_reaches_ready(linked: ClusterHarness) -> None:
    done = await linked.swap_and_wait(MODEL)
    assert done["state"] == "ready", done
    assert linked.sim.running_model() == MODEL
    recorded = launches(linked)
    assert any(" -n 127.0.1.1,127.0.1.2 -t " in c and "exec vllm serve" in c for c in recorded)
    assert any(" -n 127.0.1.1,127.0.1.2 -t " in c and " stop" in c for c in recorded)
    assert not any("127.0.0.2" in c for c in recorded)
    # Spark Control's own SSH went to the hosts: the worker ran its preflight checks.
    assert linked.sim.node("spark2").commands


async def test_dry_run_lists_the_cluster_addresses(linked: ClusterHarness) -> None:
    job = (await linked.swap(MODEL, dry_run=True)).json()
    [launch] = [c for c in job["commands"] if "exec vllm serve" in c["command"]]
    assert " -n 127.0.1.1,127.0.1.2 " in launch["command"]


async def test_status_shows_each_sparks_cluster_address(linked: ClusterHarness) -> None:
    sparks = (await linked.client.get("/api/status")).json()["sparks"]
    assert [(s["name"], s["host"], s["cluster_address"]) for s in sparks] == [
        ("spark1", "127.0.0.1", "127.0.1.1"),
        ("spark2", "127.0.0.2", "127.0.1.2"),
    ]


async def test_ssh_hosts_in_the_launch_fail_where_the_link_is_required(
    linked_sim: SparkSim,
) -> None:
    # The config without cluster addresses: -n names the SSH hosts, which the simulated
    # cluster link cannot reach, so the launch fails the way the real script would.
    config_data = linked_sim.config_dict()
    for spark in config_data["sparks"]:
        del spark["cluster_address"]
    async with running_app(linked_sim, config=parse_config(config_data, {})) as cluster:
        done = await cluster.swap_and_wait(MODEL)
    assert done["state"] == "failed", done
    assert "No route to host" in done["error"], done["error"]
    assert linked_sim.running_model() is None


async def test_without_cluster_addresses_the_hosts_are_used(cluster: ClusterHarness) -> None:
    assert all(s.cluster_address is None for s in sim_config(cluster.sim).sparks)
    done = await cluster.swap_and_wait(MODEL)
    assert done["state"] == "ready", done
    assert any(
        " -n 127.0.0.1,127.0.0.2 -t " in c and "exec vllm serve" in c for c in launches(cluster)
    )
    sparks = (await cluster.client.get("/api/status")).json()["sparks"]
    assert [s["cluster_address"] for s in sparks] == [None, None]


async def test_download_copies_to_the_worker_over_the_cluster_link(
    linked: ClusterHarness,
) -> None:
    linked.sim.hub.set_size("sparksim/tiny", 2 * MIB + 5)
    r = await linked.client.post(
        "/api/models", json={"key": "tiny", "repo": "sparksim/tiny", "download": True}
    )
    assert r.status_code == 201, r.text
    download_id = r.json()["download"]["download_id"]
    async with asyncio.timeout(120):
        await linked.runtime.downloads.wait(download_id)
    done = (await linked.client.get(f"/api/downloads/{download_id}")).json()
    assert done["state"] == "done", done
    assert [n["state"] for n in done["nodes"]] == ["verified", "verified"]
    rsyncs = [c for c in linked.sim.node("spark1").commands if "rsync " in c]
    assert rsyncs and all("nvidia@127.0.1.2:" in c for c in rsyncs), rsyncs
    assert not any("@127.0.0.2:" in c for c in rsyncs)
    # the copy arrived: the worker's sshd ran rsync's server end
    assert any(c.startswith("rsync --server") for c in linked.sim.node("spark2").commands)
