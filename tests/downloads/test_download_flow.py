"""Downloads end to end: the fake hub, the real `hf` CLI in the simulated `docker run`, real
rsync between the simulated Sparks over SSH, verification on every node."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.cluster import ClusterHarness

MIB = 1024 * 1024


def repo_dir(cluster: ClusterHarness, node: str, repo: str) -> Path:
    return cluster.sim.node(node).paths.hf_hub / ("models--" + repo.replace("/", "--"))


async def add_and_download(cluster: ClusterHarness, key: str, repo: str, **extra: Any) -> dict:
    r = await cluster.client.post(
        "/api/models", json={"key": key, "repo": repo, "download": True, **extra}
    )
    assert r.status_code == 201, r.text
    download = r.json()["download"]
    assert download is not None and download["state"] in ("queued", "running")
    return download


async def wait_download(cluster: ClusterHarness, download_id: str, timeout: float = 120) -> dict:
    import asyncio

    async with asyncio.timeout(timeout):
        await cluster.runtime.downloads.wait(download_id)
    return (await cluster.client.get(f"/api/downloads/{download_id}")).json()


async def test_download_puts_verified_weights_on_every_spark(cluster: ClusterHarness) -> None:
    cluster.sim.hub.set_size("sparksim/tiny", 3 * MIB + 17)
    started = await add_and_download(cluster, "tiny", "sparksim/tiny")
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "done", done
    info = cluster.sim.hub.repo("sparksim/tiny")
    assert done["revision"] == info.commit
    planned = {
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "model.safetensors",
    }
    plan_bytes = sum(f.size for f in info.files if f.path in planned)
    assert done["bytes_total"] == 2 * plan_bytes and done["bytes_done"] == 2 * plan_bytes
    assert [n["state"] for n in done["nodes"]] == ["verified", "verified"]
    big = info.file("model.safetensors")
    for node in ("spark1", "spark2"):
        snap = repo_dir(cluster, node, "sparksim/tiny") / "snapshots" / info.commit
        assert sorted(p.name for p in snap.iterdir()) == sorted(planned)
        data = (snap / "model.safetensors").read_bytes()
        assert len(data) == big.size and hashlib.sha256(data).hexdigest() == big.sha256
        assert (snap.parent.parent / "refs" / "main").read_text() == info.commit
        assert not (snap / "README.md").exists() and not (snap / "original").exists()
    # the head fetched from the hub, the worker got its copy over rsync
    assert any("docker run" in c and "hf" in c for c in cluster.sim.node("spark1").commands)
    assert any(c.startswith("rsync --server") for c in cluster.sim.node("spark2").commands)
    assert not any("docker run" in c for c in cluster.sim.node("spark2").commands)
    r = await cluster.client.post("/api/models/tiny/verify")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    # the history database keeps the finished download
    recorded = await cluster.runtime.storage.downloads.recent(model_key="tiny")
    assert [d["state"] for d in recorded] == ["done"]
    assert recorded[0]["download_id"] == started["download_id"]


async def test_api_refusals(cluster: ClusterHarness) -> None:
    r = await cluster.client.post("/api/models/nope/download")
    assert r.status_code == 404
    local = cluster.sim.config_dict()["models"]["local_roots"][0] + "/demo-finetune"
    r = await cluster.client.post("/api/models", json={"key": "ft", "local_path": local})
    assert r.status_code == 201, r.text
    r = await cluster.client.post("/api/models/ft/download")
    assert r.status_code == 400 and "local model" in r.json()["detail"]
    r = await cluster.client.post(
        "/api/models", json={"key": "ft2", "local_path": local, "download": True}
    )
    assert r.status_code == 400
    r = await cluster.client.get("/api/downloads/0000000z")
    assert r.status_code == 400
    r = await cluster.client.get("/api/downloads/00000000")
    assert r.status_code == 404
    r = await cluster.client.post("/api/models/gemma-3-27b/download?then_swap=yes")
    assert r.status_code == 400


async def test_second_download_of_a_model_is_refused_naming_the_first(
    cluster: ClusterHarness,
) -> None:
    cluster.sim.hub.set_size("sparksim/slow", 4 * MIB)
    cluster.sim.hub.inject("slow", bps=2 * MIB)
    first = await cluster.client.post("/api/models/qwen3-32b/download")
    assert first.status_code == 202
    r = await cluster.client.post("/api/models/qwen3-32b/download")
    assert r.status_code == 409
    assert r.json()["download_id"] == first.json()["download_id"]
    assert first.json()["download_id"] in r.json()["detail"]
    done = await wait_download(cluster, first.json()["download_id"])
    # a catalog model already complete everywhere: nothing fetched, nothing copied, verified
    assert done["state"] == "done", done
    assert not any("docker run" in c for c in cluster.sim.node("spark1").commands)
    assert not any(
        c.startswith("rsync") for n in ("spark1", "spark2") for c in cluster.sim.node(n).commands
    )
    listed = (await cluster.client.get("/api/downloads")).json()["downloads"]
    assert listed[0]["download_id"] == first.json()["download_id"]
