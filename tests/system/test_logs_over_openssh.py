"""``/api/logs/vllm`` and its SSE follow stream over Debian's sshd."""

from __future__ import annotations

import pytest

from tests.cluster import ClusterHarness
from tests.integration.test_logs import append_to_container_log, log_followers
from tests.sse import open_sse
from tests.waits import no_cyclic_gc, wait_until

MODEL = "gemma-3-27b"


async def test_tail_after_a_swap(cluster: ClusterHarness) -> None:
    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    r = await cluster.client.get("/api/logs/vllm", params={"lines": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["node"] == "spark1" and body["container"] == "vllm_node"
    assert len(body["lines"]) == 3
    assert "Application startup complete" in body["lines"][-1]
    everything = (await cluster.client.get("/api/logs/vllm")).json()["lines"]
    assert everything[-3:] == body["lines"] and any("Loading" in line for line in everything)
    worker = await cluster.client.get("/api/logs/vllm", params={"node": "spark2"})
    assert worker.status_code == 200 and worker.json()["node"] == "spark2"


async def test_follow_stream_ends_its_remote_process_when_the_client_leaves(
    cluster: ClusterHarness,
) -> None:
    sim = cluster.sim
    assert sim.openssh is not None
    if not sim.openssh.signals:
        pytest.skip(
            "not root: the fallback records commands with sshd's ForceCommand, and sshd "
            "refuses to deliver signals to forced commands"
        )
    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    assert log_followers(sim, 7) == []
    with no_cyclic_gc():
        async with open_sse(cluster.client, "/api/logs/vllm/stream?lines=7") as stream:
            backlog = [await stream.next() for _ in range(7)]
            assert [e.event for e in backlog] == ["log"] * 7
            assert "Application startup complete" in backlog[-1].data["line"]
            followers = log_followers(sim, 7)
            assert followers, "docker logs -f should run on the head while streaming"

            line = "INFO a line written while someone watches over OpenSSH"
            append_to_container_log(sim, line)
            live = await stream.next()
            assert live.event == "log" and live.data == {"node": "spark1", "line": line}
        # The client went away: the app's terminate request through sshd must end the remote
        # docker logs -f, although it has nothing to write (no SIGPIPE would ever reach it).
        await wait_until(lambda: not log_followers(sim, 7), "docker logs -f to end")
    assert any("logs" in c and "-f" in c for c in sim.head.commands)
