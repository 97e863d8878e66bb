"""``node=all``: every Spark's vLLM log merged by time, as a tail and as a live stream."""

from __future__ import annotations

from scripts.sparksim import SparkSim
from tests.cluster import ClusterHarness
from tests.integration.test_logs import log_followers
from tests.sse import open_sse
from tests.waits import wait_until

MODEL = "gemma-3-27b"


def append(sim: SparkSim, node: str, line: str) -> None:
    with open(sim.node(node).paths.container_log("vllm_node"), "a", encoding="utf-8") as log:
        log.write(line + "\n")


async def test_tail_of_all_sparks_is_merged_by_time(cluster: ClusterHarness) -> None:
    r = await cluster.client.get("/api/logs/vllm", params={"node": "all"})
    assert r.status_code == 404 and "no container" in r.json()["detail"]
    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    # Lines written at known times on each Spark, out of order between the two logs.
    append(cluster.sim, "spark2", "INFO 12-31 23:59:02 [w.py:1] worker second")
    append(cluster.sim, "spark1", "INFO 12-31 23:59:01 [h.py:1] head first")
    append(cluster.sim, "spark1", "Traceback (most recent call last):")  # no time of its own
    append(cluster.sim, "spark1", "INFO 12-31 23:59:03 [h.py:2] head third")
    body = (await cluster.client.get("/api/logs/vllm", params={"node": "all", "lines": 4})).json()
    assert body["node"] == "all" and body["errors"] == {}
    assert [(e["node"], e["t"], e["line"]) for e in body["entries"]] == [
        ("spark1", "12-31 23:59:01", "INFO 12-31 23:59:01 [h.py:1] head first"),
        ("spark1", "12-31 23:59:01", "Traceback (most recent call last):"),
        ("spark2", "12-31 23:59:02", "INFO 12-31 23:59:02 [w.py:1] worker second"),
        ("spark1", "12-31 23:59:03", "INFO 12-31 23:59:03 [h.py:2] head third"),
    ]
    everything = (await cluster.client.get("/api/logs/vllm", params={"node": "all"})).json()
    times = [e["t"] or "" for e in everything["entries"]]
    assert times == sorted(times)
    assert {e["node"] for e in everything["entries"]} == {"spark1", "spark2"}


async def test_a_spark_whose_log_cannot_be_read_is_named_not_fatal(
    cluster: ClusterHarness,
) -> None:
    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    cluster.sim.inject("spark2", "ssh_drop", match="docker logs", after_s=0.0)
    r = await cluster.client.get("/api/logs/vllm", params={"node": "all"})
    assert r.status_code == 200
    body = r.json()
    assert {e["node"] for e in body["entries"]} == {"spark1"}
    assert list(body["errors"]) == ["spark2"] and body["errors"]["spark2"]


async def test_stream_of_all_sparks(cluster: ClusterHarness) -> None:
    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    async with open_sse(cluster.client, "/api/logs/vllm/stream?node=all&lines=2") as stream:
        backlog = [await stream.next() for _ in range(2)]
        assert all(e.event == "log" and e.data["node"] in ("spark1", "spark2") for e in backlog)
        await wait_until(lambda: len(log_followers(cluster.sim, 2)) == 2, "two followers")
        append(cluster.sim, "spark2", "INFO 12-31 23:59:09 [w.py:1] live on the worker")
        append(cluster.sim, "spark1", "a head line without a time")
        by_node: dict[str, dict[str, str]] = {}
        head = [e.data["t"] for e in backlog if e.data["node"] == "spark1"]
        last_head_time = head[-1] if head else None
        while len(by_node) < 2:  # the head may log other lines (health probes) meanwhile
            event = (await stream.next()).data
            if event["line"].endswith(("live on the worker", "without a time")):
                by_node[event["node"]] = event
            elif event["node"] == "spark1":
                last_head_time = event["t"]
        assert by_node["spark2"] == {
            "node": "spark2",
            "t": "12-31 23:59:09",
            "line": "INFO 12-31 23:59:09 [w.py:1] live on the worker",
        }
        # A line without a time keeps its Spark's previous one.
        assert by_node["spark1"]["t"] == last_head_time
    # Leaving the stream stops both remote followers.
    await wait_until(lambda: not log_followers(cluster.sim, 2), "followers to stop")
