"""What a user sees around a download: "Download, then swap" ending with the model serving,
the live stream, the event bus and metrics, pre-flight's weights check and repairs."""

from __future__ import annotations

import shutil

from prometheus_client.parser import text_string_to_metric_families

from tests.cluster import ClusterHarness
from tests.downloads.test_download_flow import MIB, add_and_download, repo_dir, wait_download
from tests.sse import open_sse


async def test_download_then_swap_ends_with_the_model_serving(cluster: ClusterHarness) -> None:
    cluster.sim.hub.set_size("sparksim/anything", 5 * MIB)
    before = cluster.runtime.events.last_id
    started = await add_and_download(cluster, "anything", "sparksim/anything", then_swap=True)
    assert started["then_swap"] is True
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "done" and done["swap_job_id"], done
    job = await cluster.wait_job(done["swap_job_id"])
    assert job["state"] == "ready", job
    assert cluster.sim.running_model() == "anything"
    r = await cluster.client.post(
        "/v1/chat/completions",
        json={
            "model": "anything",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 3,
        },
    )
    assert r.status_code == 200
    models = {m["key"]: m for m in (await cluster.client.get("/api/models")).json()["models"]}
    assert models["anything"]["download"]["state"] == "done"
    # the bus carried the download from queued to done; /metrics counted it
    kinds = [
        (e.data["state"], e.data.get("phase"))
        for e in cluster.runtime.events.recent(1000)
        if e.id > before and e.kind == "download"
    ]
    assert kinds[0][0] == "queued" and kinds[-1][0] == "done"
    phases = [p for _, p in kinds if p]
    assert phases.index("planning") < phases.index("downloading") < phases.index("copying")
    assert phases.index("copying") < phases.index("verifying")
    text = (await cluster.client.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("spark_downloads_total", (("outcome", "done"),))] == 1
    assert samples[("spark_downloads_running", ())] == 0


async def test_stream_replays_and_resumes_from_last_event_id(cluster: ClusterHarness) -> None:
    cluster.sim.hub.set_size("sparksim/streamed", 2 * MIB)
    started = await add_and_download(cluster, "streamed", "sparksim/streamed")
    url = f"/api/downloads/{started['download_id']}/stream"
    async with open_sse(cluster.client, url) as stream:
        events = await stream.rest(timeout=120)
    assert events[-1].event == "state" and events[-1].data["state"] == "done"
    assert any(e.event == "log" for e in events)
    ids = [int(e.id) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    middle = ids[len(ids) // 2]
    async with open_sse(cluster.client, url, headers={"Last-Event-ID": str(middle)}) as stream:
        again = await stream.rest()
    assert [int(e.id) for e in again] == [i for i in ids if i > middle]


async def test_preflight_checks_sizes_against_the_manifest_and_download_repairs(
    cluster: ClusterHarness,
) -> None:
    cluster.sim.hub.set_size("sparksim/repair", 3 * MIB)
    started = await add_and_download(cluster, "repair", "sparksim/repair")
    assert (await wait_download(cluster, started["download_id"]))["state"] == "done"
    info = cluster.sim.hub.repo("sparksim/repair")
    big = info.file("model.safetensors")
    blob = repo_dir(cluster, "spark2", "sparksim/repair") / "blobs" / big.sha256
    blob.write_bytes(blob.read_bytes()[:MIB])  # a worker's copy cut short
    checks = (await cluster.client.post("/api/swap/repair/validate")).json()["checks"]
    weights = {c["name"]: c for c in checks if c["name"].startswith("weights")}
    assert weights["weights spark1"]["ok"] is True
    assert weights["weights spark2"]["ok"] is False
    assert "model.safetensors" in weights["weights spark2"]["detail"]
    verdict = (await cluster.client.post("/api/models/repair/verify")).json()
    assert verdict["ok"] is False
    assert [n["missing_files"] for n in verdict["nodes"]] == [[], ["model.safetensors"]]
    # a whole repo directory gone from the worker, and a flipped byte on the head
    shutil.rmtree(repo_dir(cluster, "spark2", "sparksim/repair"))
    head_blob = repo_dir(cluster, "spark1", "sparksim/repair") / "blobs" / big.sha256
    data = bytearray(head_blob.read_bytes())
    data[100] ^= 1
    head_blob.write_bytes(bytes(data))
    verdict = (await cluster.client.post("/api/models/repair/verify")).json()
    assert verdict["nodes"][0]["corrupt_files"] == ["model.safetensors"]
    runs_before = sum(c.startswith("docker run") for c in cluster.sim.node("spark1").commands)
    again = await cluster.client.post("/api/models/repair/download")
    fixed = await wait_download(cluster, again.json()["download_id"])
    assert fixed["state"] == "done", fixed
    assert (
        sum(c.startswith("docker run") for c in cluster.sim.node("spark1").commands)
        == runs_before + 1
    )
    assert (await cluster.client.post("/api/models/repair/verify")).json()["ok"] is True


async def test_while_downloading_a_swap_to_it_and_deleting_it_are_refused(
    cluster: ClusterHarness,
) -> None:
    hub = cluster.sim.hub
    hub.set_size("sparksim/busy", 8 * MIB)
    hub.inject("slow", bps=2 * MIB)
    started = await add_and_download(cluster, "busy", "sparksim/busy")
    job = await cluster.swap_and_wait("busy")
    assert job["state"] == "failed"
    assert "still being downloaded" in job["error"] and started["download_id"] in job["error"]
    r = await cluster.client.delete("/api/models/busy/disk")
    assert r.status_code == 409 and r.json()["download_id"] == started["download_id"]
    hub.clear_faults()
    cluster.runtime.downloads.cancel(started["download_id"])
    assert (await wait_download(cluster, started["download_id"]))["state"] == "cancelled"
