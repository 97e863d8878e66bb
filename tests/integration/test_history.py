"""The persistent history through the HTTP API: restarts keep swaps, downloads, deliveries and
GPU readings; jobs carry per-phase timings and who asked; pages, stats, metrics; a corrupt
database file is replaced with a warning while everything else keeps working."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from app.clock import isoformat
from app.services.monitor import ProbeSettings
from app.storage import Delivery, StoredJob
from app.swap.jobs import Job, JobState, Origin, PhaseTimings
from tests.cluster import running_app, sim_config

MODEL = "gemma-3-27b"
PROBES = ProbeSettings(interval_s=0.2, timeout_s=3.0)


def storage_section(tmp_path: Path) -> dict[str, str]:
    return {"database": str(tmp_path / "data" / "spark-control.db")}


async def test_restart_keeps_history_downloads_deliveries_and_gpu(sim: Any, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    config = sim_config(sim, storage=storage_section(tmp_path))
    async with running_app(sim, config=config, probes=PROBES) as first:
        done = await first.swap_and_wait(MODEL, headers={"User-Agent": "nightly-cron/1.0"})
        assert done["state"] == "ready"
        first.runtime.record_download(
            {
                "download_id": "dl-1",
                "model_key": MODEL,
                "state": "done",
                "started_at": isoformat(datetime.now(UTC)),
                "finished_at": isoformat(datetime.now(UTC)),
            }
        )
        first.runtime.storage.deliveries.record(
            Delivery(
                "msg_1",
                "swap_complete",
                isoformat(datetime.now(UTC)),
                "http://h",
                1,
                True,
                200,
                3.0,
                None,
            )
        )
        await first.runtime.monitor.wait_rounds(3)
        before_gpu = (await first.client.get("/api/gpu/history")).json()["sparks"]["spark1"]
    async with running_app(sim, config=config, probes=PROBES) as second:
        runtime = second.runtime
        listing = (await second.client.get("/api/swap")).json()
        assert [j["job_id"] for j in listing["jobs"]] == [done["job_id"]]
        again = (await second.client.get(f"/api/swap/{done['job_id']}")).json()
        assert again == done
        assert again["origin"]["user_agent"] == "nightly-cron/1.0"
        downloads = await runtime.storage.downloads.recent()
        assert [d["download_id"] for d in downloads] == ["dl-1"]
        deliveries = (await second.client.get("/api/webhook/deliveries")).json()["deliveries"]
        assert [d["delivery_id"] for d in deliveries] == ["msg_1"]
        gpu = (await second.client.get("/api/gpu/history")).json()["sparks"]["spark1"]
        saved = {p["t"] for p in before_gpu}
        assert len(before_gpu) >= 3 and saved <= {p["t"] for p in gpu}
        assert len(gpu) >= len(before_gpu)
        stats = (await second.client.get(f"/api/models/{MODEL}/stats")).json()
        assert stats["samples"] == 1 and stats["total"]["median_s"] == done["timings"]["total_s"]


async def test_jobs_carry_phase_timings_origins_and_metrics(cluster: Any) -> None:
    client = cluster.client
    job = await cluster.swap_and_wait(MODEL, headers={"X-Spark-Client": "dashboard"})
    t = job["timings"]
    phases = ["preflight_s", "draining_s", "stopping_s", "launching_s", "loading_s"]
    phases.append("verifying_s")
    assert all(t[name] is not None and t[name] >= 0 for name in phases), t
    assert 0 <= t["port_open_s"] <= t["http_ready_s"] <= t["first_token_s"] <= t["total_s"]
    assert sum(t[name] for name in phases) <= t["total_s"] + 0.01
    assert job["origin"] == {
        "kind": "dashboard",
        "client": "127.0.0.1",
        "user_agent": job["origin"]["user_agent"],
    }

    grant = (await client.post("/api/swap/lock", json={"holder": "openclaw"})).json()
    locked = await cluster.swap_and_wait(MODEL, token=grant["token"])
    assert locked["origin"]["kind"] == "lock" and locked["origin"]["holder"] == "openclaw"
    await client.request("DELETE", "/api/swap/lock", headers={"X-Swap-Lock-Token": grant["token"]})

    scheduled = await cluster.swap_and_wait(
        MODEL, headers={"X-Spark-Schedule": "daily-vol", "User-Agent": "evil\tagent"}
    )
    assert scheduled["origin"]["kind"] == "schedule"
    assert scheduled["origin"]["schedule_id"] == "daily-vol"
    assert scheduled["origin"]["user_agent"] == "evilagent"  # control characters removed
    odd = await cluster.swap_and_wait(MODEL, headers={"X-Spark-Schedule": "../etc; rm"})
    assert odd["origin"]["kind"] == "api"  # not a schedule id: ignored

    stats = (await client.get(f"/api/models/{MODEL}/stats")).json()
    assert stats["samples"] == 4
    assert (
        stats["loading"]["median_s"] is not None
        and stats["loading"]["p90_s"] >= stats["loading"]["median_s"]
    )
    assert (await client.get("/api/models/no-such-model/stats")).status_code == 404
    metrics = (await client.get("/metrics")).text
    assert 'spark_swap_phase_duration_seconds_count{phase="loading"} 4.0' in metrics
    assert 'spark_swap_phase_duration_seconds_count{phase="preflight"} 4.0' in metrics


def stored(n: int) -> StoredJob:
    job = Job(
        job_id=f"{n:08x}",
        model_key="m",
        dry_run=False,
        state=JobState.READY,
        phase=None,
        progress=1.0,
        started_at="2026-06-17T12:00:00+00:00",
        finished_at="2026-06-17T12:01:00+00:00",
        returncode=0,
        error=None,
        timings=PhaseTimings(total_s=60.0),
        origin=Origin(kind="api"),
    )
    return StoredJob(
        job.job_id,
        "m",
        "ready",
        False,
        job.started_at,
        job.finished_at,
        60.0,
        msgspec.json.encode(job),
    )


async def test_ten_thousand_jobs_page_through_the_api(spark_app: Any, tmp_path: Path) -> None:
    config = {"storage": {"database": str(tmp_path / "h.db")}}
    async with spark_app(config) as client:
        storage = client.app.state.runtime.storage
        for n in range(10_000):
            storage.swaps.save(stored(n))
        seen: list[str] = []
        before = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 500}
            if before:
                params["before"] = before
            body = (await client.get("/api/swap", params=params)).json()
            seen += [j["job_id"] for j in body["jobs"]]
            pages += 1
            before = body["next_before"]
            if before is None:
                break
        assert seen == [f"{n:08x}" for n in reversed(range(10_000))]
        assert pages == 21  # 20 full pages, then an empty one that says there is no more
        default = (await client.get("/api/swap")).json()
        assert len(default["jobs"]) == 50
        assert (await client.get("/api/swap", params={"limit": 501})).status_code == 400
        assert (await client.get("/api/swap", params={"limit": 0})).status_code == 400
        assert (await client.get("/api/swap", params={"before": "'; drop"})).status_code == 400
        r = await client.get("/api/swap", params={"before": "deadbeef"})
        assert r.status_code == 404 and "deadbeef" in r.json()["detail"]


async def test_corrupt_database_is_replaced_and_nothing_else_stops(
    spark_app: Any, tmp_path: Path
) -> None:
    path = tmp_path / "spark-control.db"
    path.write_bytes(b"garbage, not SQLite" * 1000)
    config = {
        "sparks": [{"name": "spark1", "host": "127.0.0.1", "ssh_port": 9}],
        "storage": {"database": str(path)},
    }
    async with spark_app(config) as client:
        status = (await client.get("/api/status")).json()
        assert any("corrupt" in w and "moved to" in w for w in status["warnings"]), status
        r = await client.post("/api/swap", json={"model_key": MODEL, "dry_run": True})
        assert r.status_code == 202
        listing = (await client.get("/api/swap")).json()
        assert [j["job_id"] for j in listing["jobs"]] == [r.json()["job_id"]]
    moved = list(tmp_path.glob("spark-control.db.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_bytes().startswith(b"garbage")


async def test_retry_after_comes_from_the_models_past_swaps(cluster: Any) -> None:
    runtime = cluster.runtime
    first = await cluster.swap_and_wait(MODEL)
    cluster.sim.set_load_time(3.0)
    r = await cluster.swap(MODEL)
    assert r.status_code == 202
    # The estimate (never a fixed guess): at most the first swap's time, at least 1 s.
    estimate = runtime.gate.retry_after()
    assert 1 <= estimate <= max(1, round(first["timings"]["total_s"]) + 1)
    await cluster.wait_job(r.json()["job_id"])


async def test_behind_a_trusted_proxy_the_origin_is_the_forwarded_client(sim: Any) -> None:
    """Behind StartOS's proxy every request comes from one address; the history names the
    browser or script behind it (X-Forwarded-For from a trusted proxy), never an invented hop."""
    config = sim_config(sim, server={"trusted_proxies": ["127.0.0.1"]})
    async with running_app(sim, config=config, probes=PROBES) as cluster:
        forwarded = {"X-Forwarded-For": "203.0.113.9, 192.168.1.50"}
        job = await cluster.swap_and_wait(MODEL, headers=forwarded)
        assert job["origin"]["client"] == "192.168.1.50"
    nobody = sim_config(sim, server={"trusted_proxies": []})
    async with running_app(sim, config=nobody, probes=PROBES) as untrusted:
        job = await untrusted.swap_and_wait(MODEL, headers={"X-Forwarded-For": "192.168.1.50"})
        assert job["origin"]["client"] == "127.0.0.1"
