"""Launches vLLM refuses end the swap as soon as vLLM gives up, quoting vLLM's own reason.

Against the simulator's vLLM, which refuses what real vLLM 0.32 refuses, with its messages (the
real-vLLM tier, tests/realvllm, runs the same cases against the real binary). The load timeout
is set far beyond the test's patience: a swap that waited for it would fail the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.sparksim import hfcache
from tests.cluster import running_app, sim_config

PATIENCE_S = 60.0


def catalog(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(json.dumps({"models": entries}))  # JSON is YAML
    return path


def local_model(
    sim: Any, name: str, *, architecture: str = "LlamaForCausalLM", corrupt: bool = False
) -> str:
    directory = sim.paths.models / name
    hfcache.create_local_model(directory)
    config = json.loads((directory / "config.json").read_text())
    config["architectures"] = [architecture]
    (directory / "config.json").write_text(json.dumps(config))
    if corrupt:
        weights = directory / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return str(directory)


@pytest.mark.parametrize(
    ("entry", "sentence"),
    [
        (
            {"key": "bad-flag", "repo": "Qwen/Qwen3-32B", "knobs": {"extra_args": ["--no-such-flag"]}},
            "vLLM refused the launch: unrecognized arguments: --no-such-flag",
        ),
        (
            {"key": "too-long", "repo": "Qwen/Qwen3-32B", "knobs": {"max_model_len": 100000}},
            "vLLM refused the launch: User-specified max_model_len (100000) is greater than the derived max_model_len (max_position_embeddings=40960.0 or model_max_length=None in model's config.json).",
        ),
    ],
)  # fmt: skip
async def test_refused_launches_fail_at_once_with_vllms_reason(
    sim: Any, tmp_path: Path, entry: dict[str, Any], sentence: str
) -> None:
    config = sim_config(
        sim,
        vllm={"load_timeout_s": 3600},
        models={"catalog_file": str(catalog(tmp_path, [entry]))},
    )
    async with running_app(sim, config=config) as cluster:
        done = await cluster.swap_and_wait(entry["key"])
        assert done["state"] == "failed", done
        assert done["error"] == sentence
        assert sim.engine_exit() is not None  # vLLM really exited; the swap did not time out
        assert [e.event for e in cluster.webhook.sent] == ["swap_failed"]
        models = (await cluster.client.get("/api/models")).json()["models"]
        assert [m["key"] for m in models if m["running"]] == []


@pytest.mark.parametrize(
    ("kind", "sentence"),
    [
        ("bad-arch", "vLLM refused the launch: Model architectures ['NoSuchArchForCausalLM'] are not supported for now."),
        ("broken", "vLLM on spark1 failed while loading: SafetensorError: Error while deserializing header: incomplete metadata, file not fully covered"),
    ],
)  # fmt: skip
async def test_unloadable_local_models_fail_with_vllms_reason(
    sim: Any, tmp_path: Path, kind: str, sentence: str
) -> None:
    path = (
        local_model(sim, kind, architecture="NoSuchArchForCausalLM")
        if kind == "bad-arch"
        else local_model(sim, kind, corrupt=True)
    )
    config = sim_config(
        sim,
        vllm={"load_timeout_s": 3600},
        models={"catalog_file": str(catalog(tmp_path, [{"key": kind, "local_path": path}]))},
    )
    async with running_app(sim, config=config) as cluster:
        done = await cluster.swap_and_wait(kind)
        assert done["state"] == "failed", done
        assert done["error"] == sentence
        # The whole reason is in the job's log, and the root cause line is among it.
        assert any(
            "SafetensorError" in line or "not supported" in line for line in done["log_tail"]
        )


@pytest.mark.slow
async def test_an_engine_that_dies_without_a_reason_is_noticed_by_its_exit(
    sim: Any, tmp_path: Path
) -> None:
    """No fatal line at all (killed from outside): the process check ends the swap."""
    sim.set_load_time(30)
    config = sim_config(sim, vllm={"load_timeout_s": 3600})
    async with running_app(sim, config=config) as cluster:
        r = await cluster.swap("qwen3-32b")
        job_id = r.json()["job_id"]
        state = await _wait_for_engine(sim)
        import os
        import signal

        os.kill(state, signal.SIGKILL)
        done = await cluster.wait_job(job_id, timeout=PATIENCE_S)
        assert done["state"] == "failed"
        assert (
            done["error"]
            == "vLLM on spark1 exited while loading without an error in its log; see the log tail."
        )


async def _wait_for_engine(sim: Any) -> int:
    from scripts.sparksim.layout import read_json
    from tests.waits import wait_until

    def engine_pid() -> int | None:
        state = read_json(sim.head.paths.vllm_state) or {}
        return state.get("pid") if state.get("host") else None

    return await wait_until(engine_pid, "the fake vLLM to start", 30)


async def test_the_vllm_tile_says_loading_while_a_swap_loads(sim: Any) -> None:
    """vLLM refuses connections until it is up: during a swap that is "loading", not "down"."""
    sim.set_load_time(60)
    async with running_app(sim) as cluster:
        r = await cluster.swap("qwen3-32b")
        job_id = r.json()["job_id"]
        from tests.waits import wait_until

        async def loading() -> bool:
            return (await cluster.client.get(f"/api/swap/{job_id}")).json()["phase"] == "loading"

        await wait_until(loading, "the swap to reach loading", 30)
        deep = (await cluster.client.get("/api/health/deep")).json()
        vllm = next(s for s in deep["services"] if s["key"] == "vllm")
        assert vllm["state"] == "loading", vllm
        assert vllm["detail"] == "loading qwen3-32b (a swap is starting it)"
        status = (await cluster.client.get("/api/status")).json()
        assert next(s for s in status["services"] if s["key"] == "vllm")["state"] == "loading"
        await cluster.client.post(f"/api/swap/{job_id}/cancel")
        await cluster.wait_job(job_id)
        deep = (await cluster.client.get("/api/health/deep")).json()
        assert next(s for s in deep["services"] if s["key"] == "vllm")["state"] == "down"
