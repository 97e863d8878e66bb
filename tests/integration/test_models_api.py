"""Catalog management over HTTP: user models, local fine-tunes, knobs, weights on disk."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

import app.atomic
from scripts.sparksim import hfcache
from tests.cluster import ClusterHarness, running_app, sim_config


def local_model_dir(sim: Any, name: str) -> Path:
    path = Path(sim.config_dict()["models"]["local_roots"][0]) / name
    hfcache.create_local_model(path)  # weights too: vLLM refuses a directory without them
    (path / "config.json").write_text('{"architectures": ["Gemma3ForCausalLM"]}')
    return path


async def models_by_key(cluster: ClusterHarness) -> dict[str, dict[str, Any]]:
    return {m["key"]: m for m in (await cluster.client.get("/api/models")).json()["models"]}


async def test_add_edit_delete_round_trip_across_restart(sim: Any) -> None:
    async with running_app(sim) as cluster:
        r = await cluster.client.post(
            "/api/models",
            json={
                "key": "mistral-small",
                "name": "Mistral Small",
                "repo": "mistralai/Mistral-Small-3.1-24B-Instruct-2503",
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["source"] == "user" and r.json()["local"] is False
        r = await cluster.client.put(
            "/api/models/mistral-small/knobs",
            json={"max_model_len": 8192, "extra_args": ["--enforce-eager"]},
        )
        assert r.status_code == 200 and r.json()["knobs"]["max_model_len"] == 8192
        r = await cluster.client.put(
            "/api/models/gemma-3-27b/knobs", json={"tensor_parallel_size": 2, "max_model_len": 4096}
        )
        assert r.status_code == 200
    async with running_app(sim) as cluster:
        models = await models_by_key(cluster)
        assert models["mistral-small"]["knobs"] == {
            "max_model_len": 8192,
            "extra_args": ["--enforce-eager"],
        }
        assert models["gemma-3-27b"]["knobs"] == {"tensor_parallel_size": 2, "max_model_len": 4096}
        assert models["gemma-3-27b"]["source"] == "catalog"
        assert (await cluster.client.delete("/api/models/mistral-small")).json() == {
            "deleted": True,
            "key": "mistral-small",
        }
        r = await cluster.client.delete("/api/models/gemma-3-27b")
        assert r.status_code == 409 and "bundled catalog" in r.json()["detail"]
        assert (await cluster.client.delete("/api/models/nope")).status_code == 404
    async with running_app(sim) as cluster:
        assert "mistral-small" not in await models_by_key(cluster)


async def test_duplicate_and_shape_errors(cluster: ClusterHarness) -> None:
    post = cluster.client.post
    r = await post("/api/models", json={"key": "gemma-3-27b", "repo": "google/gemma-3-27b-it"})
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    r = await post("/api/models", json={"key": "both", "repo": "a/b", "local_path": "/x/y"})
    assert r.status_code == 400 and "exactly one" in r.json()["detail"]
    r = await post("/api/models", json={"key": "neither"})
    assert r.status_code == 400 and "exactly one" in r.json()["detail"]
    r = await post("/api/models", json={"key": "Bad Key", "repo": "a/b"})
    assert r.status_code == 400 and "key" in r.json()["detail"]
    r = await post(
        "/api/models", json={"key": "x", "repo": "a/b", "knobs": {"tensor_parallel_size": 0}}
    )
    assert r.status_code == 400 and "tensor_parallel_size" in r.json()["detail"]
    r = await cluster.client.put(
        "/api/models/gemma-3-27b/knobs", json={"gpu_memory_utilization": 1.5}
    )
    assert r.status_code == 400 and "gpu_memory_utilization" in r.json()["detail"]
    r = await cluster.client.put(
        "/api/models/gemma-3-27b/knobs", json={"extra_args": ["--ok", "bad arg; rm"]}
    )
    assert r.status_code == 400 and "extra_args" in r.json()["detail"]
    assert (await cluster.client.put("/api/models/nope/knobs", json={})).status_code == 404


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("relative/model", "absolute"),
        ("{root}/../outside", "normalised"),
        ("{root}/./x", "normalised"),
        ("/etc", "inside one of the model roots"),
        ("{root}-sibling/x", "inside one of the model roots"),
        ("{root}/does-not-exist", "does not exist"),
        ("{root}/with space", "only letters"),
    ],
)
async def test_bad_local_paths_are_400(cluster: ClusterHarness, path: str, reason: str) -> None:
    root = cluster.sim.config_dict()["models"]["local_roots"][0]
    r = await cluster.client.post(
        "/api/models", json={"key": "local-x", "local_path": path.format(root=root)}
    )
    assert r.status_code == 400, r.text
    assert reason in r.json()["detail"]


async def test_symlink_escaping_the_roots_is_400_naming_the_node(
    cluster: ClusterHarness, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-model"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    root = Path(cluster.sim.config_dict()["models"]["local_roots"][0])
    (root / "escape").symlink_to(outside)
    r = await cluster.client.post(
        "/api/models", json={"key": "escape", "local_path": str(root / "escape")}
    )
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail.startswith("spark1: ") and "outside the model roots" in detail


async def test_directory_without_config_json_is_400(cluster: ClusterHarness) -> None:
    root = Path(cluster.sim.config_dict()["models"]["local_roots"][0])
    (root / "empty").mkdir()
    r = await cluster.client.post(
        "/api/models", json={"key": "empty", "local_path": str(root / "empty")}
    )
    assert r.status_code == 400 and "no config.json" in r.json()["detail"]


async def test_local_model_knobs_and_bind_mount_in_dry_run(cluster: ClusterHarness) -> None:
    path = local_model_dir(cluster.sim, "ten31-v2")
    r = await cluster.client.post(
        "/api/models",
        json={"key": "ten31-v2", "local_path": str(path), "knobs": {"max_model_len": 4096}},
    )
    assert r.status_code == 201, r.text
    assert r.json()["local"] is True and r.json()["local_path"] == str(path)
    await cluster.client.put(
        "/api/models/ten31-v2/knobs", json={"max_model_len": 2048, "dtype": "bfloat16"}
    )
    job = (await cluster.swap("ten31-v2", dry_run=True)).json()
    launch = next(c["command"] for c in job["commands"] if "exec vllm serve" in c["command"])
    assert f"'VLLM_SPARK_EXTRA_DOCKER_ARGS=-v {path}:{path}:ro'" in launch
    assert f"vllm serve {path} " in launch
    assert "--max-model-len 2048 --dtype bfloat16" in launch
    assert "4096" not in launch
    # and a real swap serves it with the directory bind-mounted
    done = await cluster.swap_and_wait("ten31-v2")
    assert done["state"] == "ready", done
    assert cluster.sim.running_model() == "ten31-v2"


async def test_disk_delete_refusals(cluster: ClusterHarness) -> None:
    path = local_model_dir(cluster.sim, "mine")
    assert (
        await cluster.client.post("/api/models", json={"key": "mine", "local_path": str(path)})
    ).status_code == 201
    r = await cluster.client.delete("/api/models/mine/disk")
    assert r.status_code == 409 and "local model" in r.json()["detail"]
    assert path.exists()

    assert (await cluster.swap_and_wait("gemma-3-27b"))["state"] == "ready"
    r = await cluster.client.delete("/api/models/gemma-3-27b/disk")
    assert r.status_code == 409 and "running model" in r.json()["detail"]

    cluster.sim.set_load_time(30)
    job = (await cluster.swap("qwen3-32b")).json()
    r = await cluster.client.delete("/api/models/llama-3.3-70b/disk")
    assert r.status_code == 409 and "swap is running" in r.json()["detail"]
    await cluster.client.post(f"/api/swap/{job['job_id']}/cancel")
    await cluster.wait_job(job["job_id"])
    assert (await cluster.client.delete("/api/models/nope/disk")).status_code == 404


async def test_disk_delete_frees_weights_on_both_nodes(cluster: ClusterHarness) -> None:
    await asyncio.wait_for(cluster.runtime.disk.scanned.wait(), 20)
    before = (await models_by_key(cluster))["llama-3.3-70b"]["on_disk"]
    assert before["spark1"] and before["spark2"], before
    r = await cluster.client.delete("/api/models/llama-3.3-70b/disk")
    assert r.status_code == 200, r.text
    report = r.json()
    assert set(report["nodes"]) == {"spark1", "spark2"}
    for node in ("spark1", "spark2"):
        assert report["nodes"][node]["ok"] is True
        assert report["nodes"][node]["freed_bytes"] > 0
        home = cluster.sim.node(node).home
        assert not (
            home / ".cache/huggingface/hub/models--meta-llama--Llama-3.3-70B-Instruct"
        ).exists()
    await cluster.runtime.disk.scan()
    after = (await models_by_key(cluster))["llama-3.3-70b"]["on_disk"]
    assert after == {"spark1": None, "spark2": None}
    report = (await cluster.client.post("/api/swap/llama-3.3-70b/validate")).json()
    assert not report["ok"]


async def test_twenty_concurrent_knob_edits_leave_a_valid_file(cluster: ClusterHarness) -> None:
    responses = await asyncio.gather(
        *(
            cluster.client.put("/api/models/qwen3-32b/knobs", json={"max_model_len": 1000 + i})
            for i in range(20)
        )
    )
    assert all(r.status_code == 200 for r in responses)
    path = Path(cluster.runtime.config.models.overrides_file)
    on_disk = yaml.safe_load(path.read_text())
    published = cluster.runtime.catalog().get("qwen3-32b")
    assert published is not None
    assert on_disk["knobs"]["qwen3-32b"] == {"max_model_len": published.knobs.max_model_len}
    assert published.knobs.max_model_len in range(1000, 1020)
    assert not [
        p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")
    ]  # no temp files left


async def test_crash_between_write_and_rename_keeps_previous_file(
    cluster: ClusterHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        await cluster.client.put("/api/models/qwen3-32b/knobs", json={"max_model_len": 111})
    ).status_code == 200
    path = Path(cluster.runtime.config.models.overrides_file)
    previous = path.read_bytes()

    def crash(_src: str, _dst: Path) -> None:
        raise OSError(5, "Input/output error")  # the process "dies" before the rename

    monkeypatch.setattr(app.atomic, "_replace", crash)
    r = await cluster.client.put("/api/models/qwen3-32b/knobs", json={"max_model_len": 222})
    assert r.status_code == 409 and "nothing was changed" in r.json()["detail"]
    assert path.read_bytes() == previous
    qwen = cluster.runtime.catalog().get("qwen3-32b")
    assert qwen is not None and qwen.knobs.max_model_len == 111
    assert not [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]


async def test_no_overrides_file_configured_is_409(sim: Any) -> None:
    async with running_app(sim, config=sim_config(sim, models={"overrides_file": ""})) as cluster:
        r = await cluster.client.post("/api/models", json={"key": "x", "repo": "a/b"})
        assert r.status_code == 409 and "none is configured" in r.json()["detail"]


async def test_unwritable_overrides_file_is_409(sim: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    config = sim_config(sim, models={"overrides_file": str(blocker / "models-overrides.yaml")})
    async with running_app(sim, config=config) as cluster:
        r = await cluster.client.put("/api/models/gemma-3-27b/knobs", json={"max_model_len": 5})
        assert r.status_code == 409 and "not writable" in r.json()["detail"]
        gemma = cluster.runtime.catalog().get("gemma-3-27b")
        assert gemma is not None and gemma.knobs.max_model_len == 32768


async def test_corrupt_overrides_file_is_kept_aside(sim: Any) -> None:
    path = Path(sim.config_dict()["models"]["overrides_file"])
    path.write_text("models: [this is: {not valid")
    async with running_app(sim) as cluster:
        status = (await cluster.client.get("/api/status")).json()
        assert any("not a valid overrides file" in w for w in status["warnings"])
        assert not path.exists()
        aside = [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".corrupt-")]
        assert len(aside) == 1 and aside[0].read_text() == "models: [this is: {not valid"
        assert len((await cluster.client.get("/api/models")).json()["models"]) >= 5
        assert os.access(path.parent, os.W_OK)
        assert (
            await cluster.client.post("/api/models", json={"key": "fresh", "repo": "a/b"})
        ).status_code == 201
