"""A simulator whose Sparks have cluster-link addresses (``cluster_link=True``): the fake
launch-cluster.sh accepts only those in ``-n``, and the nodes reach one another there."""

from __future__ import annotations

import pytest

from scripts.sparksim import SparkSim
from tests.sim.sim_helpers import run, wait_healthy

QWEN = "Qwen/Qwen3-32B"


@pytest.fixture
async def linked(tmp_path):
    simulator = SparkSim(
        tmp_path / "sim", nodes=2, load_time=0.3, token_rate=1000.0, cluster_link=True
    )
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def launch(sim: SparkSim, hosts: list[str]) -> str:
    return (
        f"cd ~/spark-vllm-docker && ./launch-cluster.sh -n {','.join(hosts)} -d exec "
        f"vllm serve {QWEN} --host 0.0.0.0 --port {sim.vllm_port} --served-model-name qwen "
        "--tensor-parallel-size 2"
    )


async def test_nodes_get_distinct_cluster_addresses_in_the_config(linked: SparkSim) -> None:
    addresses = [n.cluster_address for n in linked.nodes]
    assert addresses == ["127.0.1.1", "127.0.1.2"]
    sparks = linked.config_dict()["sparks"]
    assert [s["cluster_address"] for s in sparks] == addresses
    assert [s["host"] for s in sparks] == ["127.0.0.1", "127.0.0.2"]


async def test_launch_over_the_cluster_addresses_serves(linked: SparkSim) -> None:
    launched = await run(linked, launch(linked, ["127.0.1.1", "127.0.1.2"]))
    assert launched.exit_status == 0, launched.stderr
    assert linked.container_running("spark1") and linked.container_running("spark2")
    await wait_healthy(linked)  # vLLM still binds the head's own (SSH-reachable) address
    assert linked.running_model() == "qwen"
    stop = "cd ~/spark-vllm-docker && ./launch-cluster.sh -n 127.0.1.1,127.0.1.2 stop"
    assert (await run(linked, stop)).exit_status == 0
    assert not linked.container_running("spark2")


@pytest.mark.parametrize(
    "hosts", [["127.0.0.1", "127.0.0.2"], ["127.0.1.1", "127.0.0.2"], ["127.0.1.1", "spark2"]]
)
async def test_launch_refuses_an_address_off_the_cluster_link(
    linked: SparkSim, hosts: list[str]
) -> None:
    launched = await run(linked, launch(linked, hosts))
    assert launched.exit_status == 1
    bad = hosts[1] if hosts[0] == "127.0.1.1" else hosts[0]
    assert launched.stderr.strip() == f"ssh: connect to host {bad} port 22: No route to host"
    assert not linked.container_running("spark1") and not linked.container_running("spark2")


async def test_unknown_address_is_not_resolved(linked: SparkSim) -> None:
    launched = await run(linked, launch(linked, ["127.0.1.1", "127.0.1.9"]))
    assert launched.exit_status == 1
    assert "Could not resolve hostname 127.0.1.9" in launched.stderr


async def test_a_node_reaches_its_peer_over_ssh_at_the_cluster_address(
    linked: SparkSim,
) -> None:
    worker = linked.node("spark2")
    reached = await run(
        linked, f"ssh -p {worker.ssh_port} nvidia@{worker.cluster_address} hostname"
    )
    assert reached.exit_status == 0, reached.stderr
    # the command ran on spark2, not on the head
    assert worker.commands[-1] == "hostname"


async def test_without_a_cluster_link_the_ssh_hosts_are_accepted(sim: SparkSim) -> None:
    assert [n.cluster_address for n in sim.nodes] == [None, None]
    assert all("cluster_address" not in s for s in sim.config_dict()["sparks"])
    launched = await run(sim, launch(sim, [n.host for n in sim.nodes]))
    assert launched.exit_status == 0, launched.stderr
