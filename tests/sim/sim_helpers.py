"""Helpers for the simulator tests: SSH as the controller would, waiting with deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh
import httpx

from scripts.sparksim import SparkSim
from tests.waits import wait_until

DEADLINE_S = 30.0  # generous: other suites may share the machine's two cores
REPO_ROOT = Path(__file__).resolve().parents[2]


def connect(sim: SparkSim, node: str = "spark1", **kwargs: Any) -> asyncssh.SSHClientConnection:
    """An SSH connection to ``node`` with the simulator's client key (use with ``async with``)."""
    target = sim.node(node)
    options = {
        "username": "nvidia",
        "client_keys": [str(sim.paths.client_key)],
        "known_hosts": None,
    }
    return asyncssh.connect(target.host, target.ssh_port, **{**options, **kwargs})


async def run(
    sim: SparkSim, command: str, node: str = "spark1", **kwargs: Any
) -> asyncssh.SSHCompletedProcess:
    """Run one command over a fresh connection; never raises on a non-zero exit."""
    async with connect(sim, node) as conn:
        return await asyncio.wait_for(conn.run(command, **kwargs), DEADLINE_S)


def launch_command(
    sim: SparkSim, model: str, served: str, *, daemon: bool = True, verb: str = "exec"
) -> str:
    """The launch a controller issues: stop-free, ``-d``, head first, the configured port."""
    hosts = ",".join(n.host for n in sim.nodes)
    serve = (
        f" vllm serve {model} --host 0.0.0.0 --port {sim.vllm_port} --served-model-name {served}"
    )
    tail = f"{serve} --tensor-parallel-size 2" if verb == "exec" else ""
    flag = " -d" if daemon else ""
    return f"cd ~/spark-vllm-docker && ./launch-cluster.sh -n {hosts}{flag} {verb}{tail}"


def stop_command(sim: SparkSim) -> str:
    hosts = ",".join(n.host for n in sim.nodes)
    return f"cd ~/spark-vllm-docker && ./launch-cluster.sh -n {hosts} stop"


async def wait_for(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; returns that.
    Fails the test with ``what`` after ``timeout`` seconds."""
    return await wait_until(predicate, what, timeout)


async def health(sim: SparkSim) -> int | None:
    """``/health`` status of the fake vLLM, or None when nothing listens."""
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            return (await client.get(f"{sim.vllm_url}/health")).status_code
    except httpx.TransportError:
        return None


async def wait_healthy(sim: SparkSim) -> None:
    await wait_for(lambda: _is(health(sim), 200), "/health to answer 200")


async def _is(awaitable: Any, expected: Any) -> bool:
    return (await awaitable) == expected


def container_log(sim: SparkSim, node: str = "spark1", container: str = "vllm_node") -> str:
    try:
        return sim.node(node).paths.container_log(container).read_text()
    except FileNotFoundError:
        return ""
