"""``GET /api/logs/vllm`` and ``/api/logs/vllm/stream`` over real SSH against the simulator."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.sparksim import SparkSim
from scripts.sparksim.layout import ENV_ROOT
from scripts.sparksim.procs import alive
from tests.cluster import ClusterHarness
from tests.sse import open_sse
from tests.waits import no_cyclic_gc, wait_until

MODEL = "gemma-3-27b"
OTHER = "qwen3-32b"


def log_followers(sim: SparkSim, tail: int) -> list[int]:
    """Live processes of this simulator running ``docker logs --tail <tail> -f``."""
    marker = f"{ENV_ROOT}={sim.root}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            environ = Path(entry.path, "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            marker in environ
            and b"logs" in argv
            and b"-f" in argv
            and str(tail).encode() in argv
            and alive(int(entry.name))
        ):
            found.append(int(entry.name))
    return found


def append_to_container_log(sim: SparkSim, line: str) -> None:
    """What a running vLLM does: write a line to its container log."""
    with open(sim.head.paths.container_log("vllm_node"), "a", encoding="utf-8") as log:
        log.write(line + "\n")


async def test_tail_returns_the_fake_vllm_lines_after_a_swap(cluster: ClusterHarness) -> None:
    r = await cluster.client.get("/api/logs/vllm")
    assert r.status_code == 404
    assert "no container named 'vllm_node'" in r.json()["detail"]

    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    r = await cluster.client.get("/api/logs/vllm", params={"lines": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["node"] == "spark1" and body["container"] == "vllm_node"
    assert len(body["lines"]) == 3
    assert "Application startup complete" in body["lines"][-1]

    everything = (await cluster.client.get("/api/logs/vllm")).json()["lines"]  # default 200
    assert 3 < len(everything) <= 200
    assert everything[-3:] == body["lines"]
    assert any("Loading" in line for line in everything)
    head = (await cluster.client.get("/api/logs/vllm", params={"node": "spark1"})).json()
    assert head["lines"] == everything
    worker = await cluster.client.get("/api/logs/vllm", params={"node": "spark2"})
    assert worker.status_code == 200 and worker.json()["node"] == "spark2"


async def test_bad_input_is_refused_with_a_clear_status(cluster: ClusterHarness) -> None:
    for lines in ("0", "5001", "-3", "many"):
        for path in ("/api/logs/vllm", "/api/logs/vllm/stream"):
            r = await cluster.client.get(path, params={"lines": lines})
            assert r.status_code == 400, (path, lines, r.text)
            assert "lines" in r.json()["detail"]
    for path in ("/api/logs/vllm", "/api/logs/vllm/stream"):
        r = await cluster.client.get(path, params={"node": "spark9"})
        assert r.status_code == 404
        assert "spark9" in r.json()["detail"] and "spark1, spark2" in r.json()["detail"]
    r = await cluster.client.get("/api/logs/vllm", params={"node": "x" * 65})
    assert r.status_code == 400


async def test_logs_without_sparks_are_a_409(client: httpx.AsyncClient) -> None:
    for path in ("/api/logs/vllm", "/api/logs/vllm/stream"):
        r = await client.get(path)
        assert r.status_code == 409 and "Configure Sparks" in r.json()["detail"]


async def test_stream_delivers_lines_live_and_stops_the_remote_process_on_disconnect(
    cluster: ClusterHarness,
) -> None:
    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    assert log_followers(cluster.sim, 7) == []
    with no_cyclic_gc():
        async with open_sse(cluster.client, "/api/logs/vllm/stream?lines=7") as stream:
            backlog = [await stream.next() for _ in range(7)]
            assert [e.event for e in backlog] == ["log"] * 7
            assert [int(e.id) for e in backlog] == list(range(1, 8))
            assert "Application startup complete" in backlog[-1].data["line"]
            assert {e.data["node"] for e in backlog} == {"spark1"}
            assert log_followers(cluster.sim, 7), "docker logs -f should run while streaming"

            line = "INFO a line written while someone watches"
            append_to_container_log(cluster.sim, line)
            live = await stream.next()
            assert live.event == "log" and live.id == "8"
            assert live.data == {"node": "spark1", "line": line}
        # The client went away: the remote docker logs -f must go too.
        await wait_until(lambda: not log_followers(cluster.sim, 7), "docker logs -f to end")


async def test_stream_ends_when_the_container_stops(cluster: ClusterHarness) -> None:
    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    async with open_sse(cluster.client, "/api/logs/vllm/stream?lines=1") as stream:
        assert (await stream.next()).event == "log"
        swap = await cluster.swap(OTHER)  # its first step stops the running container
        assert swap.status_code == 202
        events: list[Any] = await stream.rest(timeout=30)
    assert events[-1].event == "end"
    assert events[-1].data["node"] == "spark1" and "stopped" in events[-1].data["detail"]
    await cluster.wait_job(swap.json()["job_id"])


async def test_ssh_channels_are_counted_until_closed_on_every_path(
    cluster: ClusterHarness,
) -> None:
    """The transport's public channel count (the soak's leak check) sees a stream while it
    is open and a timed-out command until its channel has closed, and drops to zero after."""
    from app.cluster.ssh import AsyncsshTransport, CommandTimeout

    transport = cluster.runtime.ssh
    assert isinstance(transport, AsyncsshTransport)
    async with transport.stream("spark1", "echo first; exec sleep 30") as lines:
        assert await anext(lines) == "first"
        assert transport.open_channels() >= 1
    with pytest.raises(CommandTimeout):
        await transport.run("spark2", "exec sleep 30", timeout=0.2)
    await wait_until(lambda: transport.open_channels() == 0, "every SSH channel to close")
