"""Swaps over real SSH against the Spark simulator: the happy path, the gates, every failure."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from app.clock import ManualClock
from app.cluster.commands import gpu_query, render
from app.swap.jobs import JobRecord, Phase
from tests.cluster import ClusterHarness, running_app, sim_config

MODEL = "gemma-3-27b"
OTHER = "qwen3-32b"


async def read_sse(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every event of an SSE stream until the server ends it."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                current[field] = value.lstrip(" ")
    return events


async def test_full_swap_reaches_ready(cluster: ClusterHarness) -> None:
    r = await cluster.swap(MODEL)
    assert r.status_code == 202
    job = r.json()
    assert job["model_key"] == MODEL and job["dry_run"] is False
    assert job["state"] in ("queued", "running")
    stream = asyncio.create_task(read_sse(cluster.client, f"/api/swap/{job['job_id']}/stream"))

    done = await cluster.wait_job(job["job_id"])
    assert done["state"] == "ready", done
    assert done["progress"] == 1.0 and done["returncode"] == 0 and done["error"] is None
    assert done["finished_at"] is not None
    assert cluster.sim.running_model() == MODEL

    events = await asyncio.wait_for(stream, 10)
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    states = [json.loads(e["data"]) for e in events if e["event"] == "state"]
    phases = [s["phase"] for s in states if s["phase"]]
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == [
        "preflight", "stopping", "launching", "loading", "verifying",
    ]  # fmt: skip
    progress = [s["progress"] for s in states]
    assert progress == sorted(progress)
    assert states[-1]["state"] == "ready"
    logs = [json.loads(e["data"]) for e in events if e["event"] == "log"]
    assert any("Loading" in entry["line"] and entry["node"] == "spark1" for entry in logs)

    models = (await cluster.client.get("/api/models")).json()["models"]
    assert [m["key"] for m in models if m["running"]] == [MODEL]
    [sent] = cluster.webhook.sent
    assert (sent.event, sent.state, sent.model_key, sent.returncode) == (
        "swap_complete",
        "ready",
        MODEL,
        0,
    )
    assert sent.job_id == job["job_id"]


async def test_second_swap_stops_the_first_model(cluster: ClusterHarness) -> None:
    assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    assert (await cluster.swap_and_wait(OTHER))["state"] == "ready"
    assert cluster.sim.running_model() == OTHER
    head_commands = cluster.sim.node("spark1").commands
    assert sum("launch-cluster.sh" in c and " stop" in c for c in head_commands) == 2


async def test_stream_resumes_from_last_event_id(cluster: ClusterHarness) -> None:
    done = await cluster.swap_and_wait(MODEL)
    url = f"/api/swap/{done['job_id']}/stream"
    everything = await read_sse(cluster.client, url)
    resumed = await read_sse(cluster.client, url, {"Last-Event-ID": everything[4]["id"]})
    assert [e["id"] for e in resumed] == [e["id"] for e in everything[5:]]


async def test_lock_gate_423_without_token_202_with_it(cluster: ClusterHarness) -> None:
    grant = (
        await cluster.client.post("/api/swap/lock", json={"holder": "cron", "note": "nightly"})
    ).json()
    r = await cluster.swap(MODEL)
    assert r.status_code == 423
    assert r.json()["lock"]["holder"] == "cron"
    assert "token" not in r.json()["lock"]
    assert (await cluster.swap(MODEL, token="wrong")).status_code == 423
    # a dry run and a validate are never blocked by the lock
    assert (await cluster.swap(MODEL, dry_run=True)).status_code == 202
    assert (await cluster.client.post(f"/api/swap/{MODEL}/validate")).status_code == 200
    r = await cluster.swap(MODEL, token=grant["token"])
    assert r.status_code == 202
    assert (await cluster.wait_job(r.json()["job_id"]))["state"] == "ready"


async def test_ten_concurrent_swaps_one_accepted(cluster: ClusterHarness) -> None:
    responses = await asyncio.gather(*(cluster.swap(MODEL) for _ in range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] + [409] * 9
    accepted = next(r.json() for r in responses if r.status_code == 202)
    for r in responses:
        if r.status_code == 409:
            assert r.json()["job_id"] == accepted["job_id"]
    assert (await cluster.wait_job(accepted["job_id"]))["state"] == "ready"


async def test_unknown_model_404_and_bad_key_400(cluster: ClusterHarness) -> None:
    assert (await cluster.swap("no-such-model")).status_code == 404
    r = await cluster.client.post("/api/swap", json={"model_key": "Bad Key; rm"})
    assert r.status_code == 400 and "model_key" in r.json()["detail"]
    assert (await cluster.client.get("/api/swap/ffffffff")).status_code == 404


async def test_dry_run_lists_commands_and_runs_nothing(cluster: ClusterHarness) -> None:
    r = await cluster.swap(MODEL, dry_run=True)
    assert r.status_code == 202
    job = r.json()
    assert job["dry_run"] is True and job["state"] == "ready"
    launch = [c for c in job["commands"] if "exec vllm serve" in c["command"]]
    assert len(launch) == 1 and launch[0]["node"] == "spark1"
    assert "--served-model-name gemma-3-27b" in launch[0]["command"]
    assert " -d exec " in launch[0]["command"]
    # Only the background status probes and disk scan (read-only) may have touched a Spark.
    planned = {c["command"] for c in job["commands"]}
    background = {render(gpu_query())}  # the status probe runs the same nvidia-smi query
    assert [c for c in cluster.commands() if c in planned - background] == []
    assert cluster.webhook.sent == []


async def assert_next_swap_works(cluster: ClusterHarness) -> None:
    cluster.sim.clear_faults()
    done = await cluster.swap_and_wait(OTHER)
    assert done["state"] == "ready", done
    assert cluster.sim.running_model() == OTHER


async def test_launch_failure(cluster: ClusterHarness) -> None:
    cluster.sim.inject("spark1", "launch_fail", exit_code=3)
    done = await cluster.swap_and_wait(MODEL)
    assert done["state"] == "failed"
    assert done["returncode"] == 3
    assert "launch-cluster.sh exited with status 3 on spark1" in done["error"]
    assert done["log_tail"]
    assert [e.event for e in cluster.webhook.sent] == ["swap_failed"]
    assert cluster.webhook.sent[0].returncode == 3
    await assert_next_swap_works(cluster)


async def test_never_ready_times_out(sim: Any) -> None:
    config = sim_config(sim, vllm={"load_timeout_s": 10})
    clock = ManualClock()  # the load deadline is read from the injected clock

    def ten_seconds_into_loading(_job: JobRecord, phase: Phase) -> None:
        if phase == Phase.LOADING:
            # Once the phase has set its deadline (it does so right after entering).
            asyncio.get_running_loop().call_soon(clock.advance, 10)

    async with running_app(sim, config=config, clock=clock) as cluster:
        sim.inject("spark1", "never_healthy")
        cluster.runtime.engine.phase_listeners.append(ten_seconds_into_loading)
        done = await cluster.swap_and_wait(MODEL)
        cluster.runtime.engine.phase_listeners.remove(ten_seconds_into_loading)
        assert done["state"] == "failed"
        assert "did not become healthy within 10 s" in done["error"]
        assert [e.event for e in cluster.webhook.sent] == ["swap_failed"]
        await assert_next_swap_works(cluster)


async def test_crash_after_ready_fails_verification(cluster: ClusterHarness) -> None:
    cluster.sim.inject("spark1", "crash_after_ready", seconds=0.0)
    done = await cluster.swap_and_wait(MODEL)
    assert done["state"] == "failed"
    assert "spark1" in done["error"]
    assert [e.event for e in cluster.webhook.sent] == ["swap_failed"]
    await assert_next_swap_works(cluster)


async def test_ssh_drop_mid_launch(cluster: ClusterHarness) -> None:
    cluster.sim.inject("spark1", "ssh_drop", match="exec vllm serve", after_s=0.1)
    done = await cluster.swap_and_wait(MODEL)
    assert done["state"] == "failed"
    assert "connection was lost" in done["error"]
    assert [e.event for e in cluster.webhook.sent] == ["swap_failed"]
    await assert_next_swap_works(cluster)


async def test_model_missing_on_worker(cluster: ClusterHarness) -> None:
    cluster.sim.inject("spark2", "model_missing", repo="google/gemma-3-27b-it")
    report = (await cluster.client.post(f"/api/swap/{MODEL}/validate")).json()
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["weights spark2"]["ok"] is False
    assert "missing on spark2" in checks["weights spark2"]["detail"]
    assert checks["weights spark1"]["ok"] is True
    before = len(cluster.sim.node("spark1").commands)
    done = await cluster.swap_and_wait(MODEL)
    assert done["state"] == "failed"
    assert "weights spark2" in done["error"]
    # failed in preflight: nothing was stopped or launched
    assert not any(
        "launch-cluster.sh" in c
        for c in cluster.sim.node("spark1").commands[before:]
        if "test -x" not in c
    )
    await assert_next_swap_works(cluster)


async def test_validate_all_ok(cluster: ClusterHarness) -> None:
    report = (await cluster.client.post(f"/api/swap/{MODEL}/validate")).json()
    assert report["ok"] is True, report
    names = [c["name"] for c in report["checks"]]
    for expected in ["ssh spark1", "ssh spark2", "launch script", "image spark1", "image spark2",
                     "weights spark1", "weights spark2", "disk spark1", "no swap running"]:  # fmt: skip
        assert expected in names


async def test_cancel_during_loading_leaves_cluster_stopped(sim: Any) -> None:
    sim.set_load_time(30)
    async with running_app(sim) as cluster:
        r = await cluster.swap(MODEL)
        job_id = r.json()["job_id"]
        async with asyncio.timeout(20):
            async for event in cluster.runtime.events.subscribe():
                if event.kind == "swap" and event.data.get("phase") == "loading":
                    break
        r = await cluster.client.post(f"/api/swap/{job_id}/cancel")
        assert r.status_code == 202
        done = await cluster.wait_job(job_id)
        assert done["state"] == "cancelled"
        assert not sim.container_running("spark1") and not sim.container_running("spark2")
        [sent] = cluster.webhook.sent  # after every real swap, a cancelled one included
        assert (sent.event, sent.state, sent.reason) == (
            "swap_failed",
            "failed",
            "cancelled from the dashboard",
        )
        r = await cluster.client.post(f"/api/swap/{job_id}/cancel")
        assert r.status_code == 202 and r.json()["state"] == "cancelled"  # idempotent
        sim.set_load_time(0.3)
        await assert_next_swap_works(cluster)


async def test_restart_finds_running_model(sim: Any) -> None:
    async with running_app(sim) as cluster:
        assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    async with running_app(sim) as fresh:
        await fresh.runtime.engine.discover_running()
        models = (await fresh.client.get("/api/models")).json()["models"]
        assert [m["key"] for m in models if m["running"]] == [MODEL]


async def test_hostile_knobs_reach_the_simulator_literally(sim: Any, tmp_path: Path) -> None:
    # Values of flags vLLM has: a stray word would be an argparse refusal (and a failed swap).
    hostile = ["--trust-remote-code", "--chat-template=$(touch${IFS}/tmp/pwned)", "--tokenizer", "`reboot`", "--revision", "a;b"]  # fmt: skip
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "models:\n"
        "  - key: hostile\n"
        "    repo: google/gemma-3-27b-it\n"
        f"    knobs: {{served_model_name: 'org/name:v1', extra_args: {json.dumps(hostile)}}}\n"
    )
    config = sim_config(sim, models={"catalog_file": str(catalog)})
    async with running_app(sim, config=config) as cluster:
        done = await cluster.swap_and_wait("hostile")
        assert done["state"] == "ready", done
        assert sim.running_model() == "org/name:v1"
        launch = next(c for c in sim.node("spark1").commands if "exec vllm serve" in c)
        record = json.loads((sim.node("spark1").paths.containers / "vllm_node.json").read_text())
        assert record["command"][-len(hostile) :] == hostile
        assert "'--chat-template=$(touch${IFS}/tmp/pwned)'" in launch
        assert not Path("/tmp/pwned").exists()
