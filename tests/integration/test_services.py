"""Status, probes, endpoints, GPU figures and metrics against the Spark simulator (real SSH),
with tiny recording HTTP services standing in for owners' own services."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.config import Config
from app.services.monitor import ProbeSettings
from scripts.sparksim import SparkSim
from tests.cluster import ClusterHarness, running_app, sim_config
from tests.http_fakes import RecordingService
from tests.servers import serve
from tests.sse import open_sse
from tests.waits import wait_until

MODEL = "gemma-3-27b"
PROBES = ProbeSettings(interval_s=0.2, timeout_s=2.0)
DEADLINE_S = 20.0


@pytest.fixture
async def watched(sim: SparkSim) -> AsyncIterator[ClusterHarness]:
    """Spark Control against ``sim`` with probes every 0.2 s."""
    async with running_app(sim, probes=PROBES) as harness:
        yield harness


async def status_when(
    client: httpx.AsyncClient, predicate: Any, what: str, timeout: float = DEADLINE_S
) -> dict[str, Any]:
    """Poll ``/api/status`` until ``predicate(status)`` holds; fail naming ``what`` and the
    last status seen."""
    last: list[dict[str, Any]] = []

    async def matching() -> dict[str, Any] | None:
        status = (await client.get("/api/status")).json()
        last[:] = [status]
        return status if predicate(status) else None

    try:
        return await wait_until(matching, what, timeout)
    except AssertionError as err:
        raise AssertionError(f"{err}; last status: {last[0] if last else None}") from None


def by_key(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in status["services"]}


def by_name(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in status["sparks"]}


def with_overrides(
    sim: SparkSim, tmp_path: Path, extra: list[dict[str, Any]], **sections: Any
) -> Config:
    """A config for ``sim`` whose services overrides are the simulator's plus ``extra``."""
    sim_file = sim.root / "services-overrides.yaml"
    entries = (yaml.safe_load(sim_file.read_text()) or {}).get("services", [])
    path = tmp_path / "services-overrides.yaml"
    path.write_text(yaml.safe_dump({"services": [*entries, *extra]}))
    services = {"overrides_file": str(path), **sections.pop("services", {})}
    return sim_config(sim, services=services, **sections)


@contextlib.asynccontextmanager
async def recording(service: RecordingService) -> AsyncIterator[str]:
    async with serve(service) as url:
        yield url


# --- status and probes ----------------------------------------------------------------------


async def test_status_shows_sparks_services_and_the_running_model(
    watched: ClusterHarness,
) -> None:
    status = await status_when(
        watched.client,
        lambda s: all(p["gpu"] for p in s["sparks"]) and by_key(s)["vllm"]["checked_at"],
        "the first probe round",
    )
    assert status["configured"] is True and status["lock"] == {"held": False}
    assert status["swap"] is None and status["warnings"] == []
    assert [(s["name"], s["role"], s["reachable"]) for s in status["sparks"]] == [
        ("spark1", "head", True),
        ("spark2", "worker", True),
    ]
    # No model launched yet: the cluster vLLM is down, the audio services are up.
    services = by_key(status)
    assert services["vllm"]["state"] == "down"
    assert "connection refused" in services["vllm"]["detail"]
    assert services["kokoro"]["state"] == "up" and services["kokoro"]["latency_ms"] >= 0
    assert status["model"]["state"] == "unknown"

    r = await watched.swap(MODEL)
    status = await status_when(
        watched.client, lambda s: s["swap"] is not None, "the swap to show", timeout=5
    )
    assert status["swap"]["job_id"] == r.json()["job_id"]
    await watched.wait_job(r.json()["job_id"])
    status = await status_when(
        watched.client, lambda s: by_key(s)["vllm"]["state"] == "up", "vLLM to be up"
    )
    assert status["swap"] is None
    assert status["model"] == {"key": MODEL, "state": "ready", "served_name": MODEL}
    assert by_key(status)["vllm"]["models"] == [MODEL]
    assert MODEL in by_key(status)["vllm"]["detail"]


async def test_service_down_and_up_publish_events(watched: ClusterHarness) -> None:
    await status_when(
        watched.client, lambda s: by_key(s)["kokoro"]["state"] == "up", "kokoro to be up"
    )
    async with open_sse(watched.client, "/api/events") as events:
        await events.until("hello")
        await watched.sim.stop_service("kokoro")
        down = await events.until("service")
        while down.data["data"]["key"] != "kokoro":
            down = await events.until("service")
        assert down.data["data"]["state"] == "down"
        assert "connection refused" in down.data["data"]["detail"]
        assert by_key((await watched.client.get("/api/status")).json())["kokoro"]["state"] == (
            "down"
        )
        await watched.sim.start_service("kokoro")
        up = await events.until("service")
        while up.data["data"]["key"] != "kokoro":
            up = await events.until("service")
        assert up.data["data"]["state"] == "up" and int(up.id) > int(down.id)


async def test_disabled_services_are_never_probed_but_listed_as_endpoints(
    sim: SparkSim, tmp_path: Path
) -> None:
    enabled, disabled = RecordingService(), RecordingService()
    async with recording(enabled) as enabled_url, recording(disabled) as disabled_url:
        config = with_overrides(
            sim,
            tmp_path,
            [
                {"key": "notes", "name": "Notes", "kind": "http", "url": enabled_url},
                {"key": "scratch", "name": "Scratch", "kind": "http", "url": disabled_url},
            ],
            services={"disabled": ["scratch", "parakeet"]},
        )
        async with running_app(sim, config=config, probes=PROBES) as app:
            async with asyncio.timeout(DEADLINE_S):
                await app.runtime.monitor.wait_rounds(3)
                await enabled.wait_requests(3)
            deep = (await app.client.get("/api/health/deep")).json()
            status = (await app.client.get("/api/status")).json()
            endpoints = (await app.client.get("/api/endpoints")).json()["endpoints"]
            metrics = (await app.client.get("/metrics")).text

    assert set(enabled.requests) == {"/health"}
    assert disabled.requests == []  # not by the rounds, not by the deep health check

    services = by_key(status)
    assert services["notes"]["state"] == "up"
    for key in ("scratch", "parakeet"):
        assert services[key]["state"] == "disabled"
        assert services[key]["latency_ms"] is None
    assert {s["key"]: s["state"] for s in deep["services"]}["scratch"] == "disabled"

    listed = {e["key"]: e for e in endpoints}
    assert listed["scratch"] == {
        "key": "scratch",
        "name": "Scratch",
        "kind": "http",
        "url": disabled_url,
        "node": None,
        "disabled": True,
    }
    assert listed["notes"]["disabled"] is False and listed["notes"]["url"] == enabled_url
    assert listed["parakeet"]["disabled"] is True and listed["parakeet"]["node"] == "spark2"
    assert 'service="notes"' in metrics
    assert 'service="scratch"' not in metrics and 'service="parakeet"' not in metrics


async def test_vllm_monitor_override_is_probed_as_a_vllm(sim: SparkSim, tmp_path: Path) -> None:
    second = RecordingService(models=("second-model",))
    async with recording(second) as url:
        config = with_overrides(
            sim, tmp_path, [{"key": "vllm-b", "name": "Second vLLM", "kind": "vllm", "url": url}]
        )
        async with running_app(sim, config=config, probes=PROBES) as app:
            status = await status_when(
                app.client, lambda s: by_key(s)["vllm-b"]["state"] == "up", "vllm-b to be up"
            )
            assert by_key(status)["vllm-b"]["models"] == ["second-model"]
            assert "second-model" in by_key(status)["vllm-b"]["detail"]
            assert {"/health", "/v1/models"} <= set(second.requests)

            second.healthy = False
            status = await status_when(
                app.client, lambda s: by_key(s)["vllm-b"]["state"] == "down", "vllm-b down"
            )
            assert "503" in by_key(status)["vllm-b"]["detail"]
            # A monitor never touches the swapped model's state.
            assert status["model"]["state"] == "unknown"


async def test_dead_spark_is_unreachable_and_status_never_waits_for_it(sim: SparkSim) -> None:
    """spark2 accepts TCP but never speaks SSH (a hung host); spark3's port is closed."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    blackhole = await asyncio.start_server(swallow, "127.0.0.1", 0)
    hung_port = blackhole.sockets[0].getsockname()[1]
    closed = await asyncio.start_server(swallow, "127.0.0.1", 0)
    closed_port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()

    data = sim.config_dict()
    spark1 = data["sparks"][0]
    data["sparks"] = [
        spark1,
        {"name": "spark2", "host": "127.0.0.1", "ssh_port": hung_port, "ssh_user": "nvidia"},
        {"name": "spark3", "host": "127.0.0.1", "ssh_port": closed_port, "ssh_user": "nvidia"},
    ]
    config = sim_config(sim, sparks=data["sparks"])
    probes = ProbeSettings(interval_s=0.2, timeout_s=2.0)
    try:
        async with running_app(sim, config=config, probes=probes) as app:
            # spark2 has accepted the probe's connection and says nothing: the probe is stuck
            # there for its 2 s timeout, and /api/status answers meanwhile, from its cache.
            await wait_until(lambda: held, "the probe to connect to the hung spark2")
            during = (await app.client.get("/api/status")).json()
            assert by_name(during)["spark2"]["reachable"] is None, during
            status = await status_when(
                app.client,
                lambda s: by_name(s)["spark2"]["reachable"] is False,
                "spark2 to be reported unreachable",
            )
            sparks = by_name(status)
            assert "did not answer over SSH within 2 s" in sparks["spark2"]["detail"]
            assert sparks["spark2"]["gpu"] is None
            assert sparks["spark3"]["reachable"] is False
            assert "unreachable over SSH" in sparks["spark3"]["detail"]
            assert sparks["spark1"]["reachable"] is True and sparks["spark1"]["gpu"]

            # Bounded by the probes' timeout: the hung spark2 is given up on, not waited for.
            deep = await app.client.get("/api/health/deep")
            assert deep.status_code == 200
            report = deep.json()
            assert report["ok"] is False
            assert {s["name"]: s["reachable"] for s in report["sparks"]} == {
                "spark1": True,
                "spark2": False,
                "spark3": False,
            }
    finally:
        for writer in held:
            writer.close()
        blackhole.close()
        await blackhole.wait_closed()


async def test_model_fails_when_head_vllm_stops_answering_and_recovers(sim: SparkSim) -> None:
    probes = ProbeSettings(interval_s=0.2, timeout_s=0.5)
    async with running_app(sim, probes=probes) as app:
        assert (await app.swap_and_wait(MODEL))["state"] == "ready"
        await status_when(app.client, lambda s: s["model"]["state"] == "ready", "ready")
        pid = int(json.loads(sim.head.paths.vllm_state.read_text())["pid"])
        resume_from = app.runtime.events.last_id
        os.kill(pid, signal.SIGSTOP)  # the server hangs: accepts, never answers
        try:
            status = await status_when(
                app.client, lambda s: s["model"]["state"] == "failed", "the model to fail"
            )
            assert status["model"]["key"] == MODEL
            assert by_key(status)["vllm"]["state"] == "down"
        finally:
            os.kill(pid, signal.SIGCONT)
        status = await status_when(
            app.client, lambda s: s["model"]["state"] == "ready", "the model to recover"
        )
        assert status["model"] == {"key": MODEL, "state": "ready", "served_name": MODEL}

        headers = {"Last-Event-ID": str(resume_from)}
        async with open_sse(app.client, "/api/events", headers) as events:
            failed = await events.until("model")
            ready = await events.until("model")
        assert failed.data["data"]["state"] == "failed" and failed.data["data"]["key"] == MODEL
        assert ready.data["data"]["state"] == "ready"


# --- GPU figures, history and metrics -------------------------------------------------------


async def test_gpu_figures_per_spark_rise_after_a_swap(watched: ClusterHarness) -> None:
    status = await status_when(
        watched.client, lambda s: all(p["gpu"] for p in s["sparks"]), "GPU figures"
    )
    before = {p["name"]: p["gpu"] for p in status["sparks"]}
    for gpu in before.values():
        assert gpu["name"] == "NVIDIA GB10"
        assert gpu["memory_total_mib"] == 122880
        assert gpu["memory_used_mib"] < 10_000
        assert gpu["utilization_pct"] is not None and gpu["temperature_c"] is not None
        assert gpu["power_w"] is not None

    assert (await watched.swap_and_wait(MODEL))["state"] == "ready"
    status = await status_when(
        watched.client,
        lambda s: all(p["gpu"]["memory_used_mib"] > 50_000 for p in s["sparks"]),
        "GPU memory to rise on every Spark",
    )
    for spark in status["sparks"]:
        assert spark["gpu"]["temperature_c"] > before[spark["name"]]["temperature_c"]
        assert spark["gpu"]["power_w"] > before[spark["name"]]["power_w"]

    history = (await watched.client.get("/api/gpu/history")).json()
    assert history["interval_s"] == PROBES.interval_s
    assert set(history["sparks"]) == {"spark1", "spark2"}
    for points in history["sparks"].values():
        assert set(points[0]) == {"t", "util", "mem_used_mib", "mem_total_mib", "temp_c", "power_w"}
        assert points[0]["mem_used_mib"] < 10_000 and points[-1]["mem_used_mib"] > 50_000
        assert [p["t"] for p in points] == sorted(p["t"] for p in points)
        assert points[0]["t"].endswith("+00:00")


async def test_metrics_expose_gpu_and_service_series(watched: ClusterHarness) -> None:
    await status_when(
        watched.client,
        lambda s: (
            all(p["gpu"] for p in s["sparks"])
            and all(v["checked_at"] for v in s["services"] if v["state"] != "disabled")
        ),
        "a full probe round",
    )
    text = (await watched.client.get("/metrics")).text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    for spark in ("spark1", "spark2"):
        label = (("spark", spark),)
        assert 0 <= samples[("spark_gpu_utilization_percent", label)] <= 100
        assert samples[("spark_gpu_memory_total_mib", label)] == 122880
        assert samples[("spark_gpu_memory_used_mib", label)] > 0
    assert samples[("spark_service_up", (("service", "vllm"),))] == 0  # nothing launched
    assert samples[("spark_service_up", (("service", "kokoro"),))] == 1


async def test_endpoints_without_sparks_and_status_before_any_probe(
    client: httpx.AsyncClient,
) -> None:
    """No config at all: every built-in is listed, nothing is probed, status explains."""
    endpoints = (await client.get("/api/endpoints")).json()["endpoints"]
    assert [e["key"] for e in endpoints] == ["vllm", "parakeet", "kokoro", "embeddings", "qdrant"]
    assert all(e["url"] is None and e["disabled"] is False for e in endpoints)
    status = (await client.get("/api/status")).json()
    assert status["configured"] is False and status["sparks"] == []
    assert {s["state"] for s in status["services"]} == {"down"}
    assert "not configured" in by_key(status)["vllm"]["detail"]
    assert any("no Sparks configured" in w for w in status["warnings"])
    deep = (await client.get("/api/health/deep")).json()
    assert deep["ok"] is False and deep["sparks"] == []
    assert (await client.get("/api/gpu/history")).json()["sparks"] == {}
