"""Deleting a model's weights from disk over Debian's sshd, as the nodes' login users."""

from __future__ import annotations

import asyncio

from tests.cluster import ClusterHarness

REPO_DIR = ".cache/huggingface/hub/models--meta-llama--Llama-3.3-70B-Instruct"


async def test_disk_delete_removes_the_weights_on_both_nodes(cluster: ClusterHarness) -> None:
    await asyncio.wait_for(cluster.runtime.disk.scanned.wait(), 20)
    models = {m["key"]: m for m in (await cluster.client.get("/api/models")).json()["models"]}
    before = models["llama-3.3-70b"]["on_disk"]
    assert before["spark1"] and before["spark2"], before
    for node in cluster.sim.nodes:
        assert (node.home / REPO_DIR).is_dir()

    r = await cluster.client.delete("/api/models/llama-3.3-70b/disk")
    assert r.status_code == 200, r.text
    report = r.json()
    assert set(report["nodes"]) == {"spark1", "spark2"}
    for node in cluster.sim.nodes:
        assert report["nodes"][node.name]["ok"] is True, report
        assert report["nodes"][node.name]["freed_bytes"] > 0
        assert not (node.home / REPO_DIR).exists()
        assert any(REPO_DIR.rsplit("/", 1)[1] in c for c in node.commands)

    await cluster.runtime.disk.scan()
    models = {m["key"]: m for m in (await cluster.client.get("/api/models")).json()["models"]}
    assert models["llama-3.3-70b"]["on_disk"] == {"spark1": None, "spark2": None}
    report = (await cluster.client.post("/api/swap/llama-3.3-70b/validate")).json()
    assert report["ok"] is False
