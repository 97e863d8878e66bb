"""Cancel and faults: each ends the download in one terminal state with one sentence, and the
next download resumes or repairs what was left."""

from __future__ import annotations

import re

from scripts.sparksim import containers, procs
from tests.cluster import ClusterHarness
from tests.downloads.test_download_endings import partial_blob
from tests.downloads.test_download_flow import MIB, add_and_download, repo_dir, wait_download
from tests.waits import wait_until


def live_sim_processes(cluster: ClusterHarness) -> list[int]:
    return [int(p.name) for p in cluster.sim.paths.pids.iterdir() if procs.alive(int(p.name))]


def ranged_gets(cluster: ClusterHarness) -> list[int]:
    """Offsets of the hub's CDN requests that resumed (``Range: bytes=N-`` with N > 0)."""
    offsets = []
    for method, path, rng in cluster.sim.hub.requests:
        m = re.fullmatch(r"bytes=(\d+)-", rng)
        if method == "GET" and path.startswith("/cdn/") and m and int(m[1]) > 0:
            offsets.append(int(m[1]))
    return offsets


async def test_cancel_stops_the_remote_download_and_the_next_one_resumes(
    cluster: ClusterHarness,
) -> None:
    hub = cluster.sim.hub
    hub.set_size("sparksim/cancelme", 12 * MIB)
    hub.inject("slow", bps=MIB)
    started = await add_and_download(cluster, "cancelme", "sparksim/cancelme")

    def partial_on_head() -> bool:
        # config.json's own .incomplete comes and goes meanwhile: a race the helper allows for
        return partial_blob(cluster.sim, "spark1", "sparksim/cancelme", at_least=MIB + 1)

    await wait_until(partial_on_head, "the head to have part of the file", timeout=60)
    r = await cluster.client.post(f"/api/downloads/{started['download_id']}/cancel")
    assert r.status_code == 202
    again = await cluster.client.post(f"/api/downloads/{started['download_id']}/cancel")
    assert again.status_code == 202  # a double click: the same job, nothing more
    assert again.json()["download_id"] == started["download_id"]
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "cancelled" and done["error"] == "The download was cancelled."
    # the container and the hf process in it are gone; the partial blob stays for resuming
    head = cluster.sim.node("spark1").paths
    assert not [r for r in containers.all_records(head) if "download" in r["name"]]
    await wait_until(lambda: not live_sim_processes(cluster), "no process left by the download")
    # huggingface_hub >= 1.0 never resumes another process's partial file: the files it
    # finished are kept, the one in flight is fetched again
    big = hub.repo("sparksim/cancelme").file("model.safetensors")
    assert not (repo_dir(cluster, "spark1", "sparksim/cancelme") / "blobs" / big.sha256).exists()
    fetched = [p for m, p, _ in hub.requests if m == "GET" and p.endswith("/config.json")]
    assert len(fetched) == 1
    hub.clear_faults()
    again = await cluster.client.post("/api/models/cancelme/download")
    assert again.status_code == 202
    finished = await wait_download(cluster, again.json()["download_id"])
    assert finished["state"] == "done", finished
    assert [p for m, p, _ in hub.requests if m == "GET" and p.endswith("/config.json")] == fetched
    assert not list(
        (repo_dir(cluster, "spark1", "sparksim/cancelme") / "blobs").glob("*.incomplete")
    )


async def test_ssh_drop_during_the_copy_fails_and_the_next_download_completes(
    cluster: ClusterHarness,
) -> None:
    cluster.sim.hub.set_size("sparksim/dropcopy", 2 * MIB)
    cluster.sim.inject("spark1", "ssh_drop", match="rsync -a", after_s=0.0)
    started = await add_and_download(cluster, "dropcopy", "sparksim/dropcopy")
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "failed"
    assert "spark1" in done["error"] and "connection was lost" in done["error"]
    assert done["error"].count(".") == 1 or done["error"].endswith(".")
    again = await cluster.client.post("/api/models/dropcopy/download")
    finished = await wait_download(cluster, again.json()["download_id"])
    assert finished["state"] == "done", finished
    # the head already had everything: the second job only copied
    downloads = [c for c in cluster.sim.node("spark1").commands if c.startswith("docker run")]
    assert len(downloads) == 1


async def test_hub_errors_end_the_download_with_one_sentence(cluster: ClusterHarness) -> None:
    hub = cluster.sim.hub
    hub.set_size("sparksim/flaky", MIB)
    hub.inject("status", code=503, where="api")
    started = await add_and_download(cluster, "flaky", "sparksim/flaky")
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "failed"
    assert (
        done["error"]
        == "The Hugging Face hub answered HTTP 503 for sparksim/flaky; try again later."
    )
    hub.inject("status", code=500, where="cdn", times=-1)
    again = await cluster.client.post("/api/models/flaky/download")
    failed = await wait_download(cluster, again.json()["download_id"])
    assert failed["state"] == "failed" and failed["error"].startswith(
        "hf download of sparksim/flaky on spark1 failed:"
    )
    hub.clear_faults()
    last = await cluster.client.post("/api/models/flaky/download")
    assert (await wait_download(cluster, last.json()["download_id"]))["state"] == "done"
    r = await cluster.client.post(
        "/api/models", json={"key": "ghost", "repo": "sparksim-x/none", "download": True}
    )
    ghost = await wait_download(cluster, r.json()["download"]["download_id"])
    assert ghost["error"] == "The Hugging Face hub has no model sparksim-x/none (or it is private)."
    # a verify that asks the hub: its "no such repo" is the model's problem (409), an outage 502
    refused = await cluster.client.post("/api/models/ghost/verify")
    assert refused.status_code == 409
    assert refused.json()["detail"] == ghost["error"]
    hub.inject("status", code=503, where="api")
    outage = await cluster.client.post("/api/models/ghost/verify")
    assert outage.status_code == 502
    assert outage.json()["detail"].startswith("The Hugging Face hub answered HTTP 503")


async def test_gated_repo_without_or_with_a_wrong_token(cluster: ClusterHarness) -> None:
    started = await add_and_download(cluster, "gated", "sparksim/gated-model")
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "failed"
    assert done["error"] == (
        "sparksim/gated-model is a gated model: accept its terms on huggingface.co, then set a "
        "Hugging Face token in Configure Sparks."
    )
    assert not any(c.startswith("docker run") for c in cluster.sim.node("spark1").commands)


async def test_a_corrupt_byte_fails_verification_and_the_next_download_repairs_it(
    cluster: ClusterHarness,
) -> None:
    hub = cluster.sim.hub
    hub.set_size("sparksim/bitrot", 2 * MIB)
    hub.inject("corrupt")
    started = await add_and_download(cluster, "bitrot", "sparksim/bitrot")
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "failed"
    assert done["error"] == (
        "model.safetensors on spark1, spark2 did not match the hub's sha256 (a corrupt "
        "transfer); download again to repair."
    )
    assert [n["corrupt_files"] for n in done["nodes"]] == [["model.safetensors"]] * 2
    hub.clear_faults()
    again = await cluster.client.post("/api/models/bitrot/download")
    fixed = await wait_download(cluster, again.json()["download_id"])
    assert fixed["state"] == "done", fixed
    r = await cluster.client.post("/api/models/bitrot/verify")
    assert r.json()["ok"] is True


async def test_refused_before_downloading_when_a_spark_lacks_the_disk(
    cluster: ClusterHarness,
) -> None:
    cluster.sim.hub.set_size("sparksim/huge", 900 * 1024**4)  # 900 TiB
    started = await add_and_download(cluster, "huge", "sparksim/huge")
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "failed"
    assert re.fullmatch(
        r"spark1 needs 921600\.\d\d GiB free for sparksim/huge but has \d+\.\d\d GiB; free some space and retry\.",
        done["error"],
    ), done["error"]
    assert not any(c.startswith("docker run") for c in cluster.sim.node("spark1").commands)


async def test_a_mid_file_drop_from_the_hub_is_resumed_by_hf(cluster: ClusterHarness) -> None:
    hub = cluster.sim.hub
    # the client writes in 10 MiB chunks: a drop after the first one is resumed with a Range
    hub.set_size("sparksim/dropmid", 24 * MIB)
    hub.inject("drop", after_bytes=15 * MIB, times=1)
    started = await add_and_download(cluster, "dropmid", "sparksim/dropmid")
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "done", done
    assert ranged_gets(cluster) == [10 * MIB]


async def test_gated_repo_with_the_right_token_downloads_and_a_wrong_one_is_named(
    sim: object,
) -> None:
    from tests.cluster import running_app, sim_config

    async with running_app(sim, config=sim_config(sim, vllm={"hf_token": "hf_wrong"})) as bad:
        started = await add_and_download(bad, "gated", "sparksim/gated-model")
        done = await wait_download(bad, started["download_id"])
        assert done["error"] == (
            "The Hugging Face hub rejected the configured token for sparksim/gated-model; "
            "set a valid token in Configure Sparks."
        )
    token = bad.sim.hub.token
    async with running_app(sim, config=sim_config(sim, vllm={"hf_token": token})) as good:
        again = await good.client.post("/api/models/gated/download")
        done = await wait_download(good, again.json()["download_id"])
        assert done["state"] == "done", done
        commands = good.sim.node("spark1").commands
        run = next(c for c in commands if c.startswith("docker run"))
        assert "-e HF_TOKEN " in run and token not in run
        assert not any(token in c for n in ("spark1", "spark2") for c in good.sim.node(n).commands)


async def test_an_image_without_the_hf_command_is_named(cluster: ClusterHarness) -> None:
    cluster.sim.hub.set_size("sparksim/old-image", MIB)
    cluster.sim.inject("spark1", "image_lacks", command="hf")
    started = await add_and_download(cluster, "old-image", "sparksim/old-image")
    done = await wait_download(cluster, started["download_id"])
    assert done["state"] == "failed"
    image = cluster.runtime.config.vllm.image
    assert done["error"] == (
        f"The vLLM image {image} on spark1 has no hf command, which downloads run "
        "(huggingface_hub 0.34 or newer has it): build the image from a newer vLLM, or copy "
        "the weights to the Sparks yourself."
    )
    cluster.sim.clear_faults()
    again = await cluster.client.post("/api/models/old-image/download")
    assert (await wait_download(cluster, again.json()["download_id"]))["state"] == "done"
