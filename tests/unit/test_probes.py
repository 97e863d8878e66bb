"""Probe results folded into what users see: GPU readings, the history window, state changes
published once, failure sentences without internal names."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.cluster.gpu import GpuSample, parse_gpu_csv
from app.config import parse_config
from app.events import EventBus
from app.metrics import Metrics
from app.services.gpu_history import GpuHistory
from app.services.http_failure import describe_http_failure
from app.services.probes import ServiceProbe, SparkProbe, fold_gpus, probe_http
from app.services.registry import ServiceRegistry
from app.services.status import StatusCache

T0 = datetime(2026, 6, 17, 12, 0, tzinfo=UTC)


def test_two_gpus_fold_into_one_reading_and_na_fields_stay_null() -> None:
    samples = parse_gpu_csv(
        "NVIDIA GB10, 40, 1000, 60000, 50, 30.5\nNVIDIA GB10, 60, 3000, 60000, 70, [N/A]\n"
    )
    folded = fold_gpus(samples)
    assert folded == GpuSample(
        name="NVIDIA GB10",
        utilization_pct=50.0,
        memory_used_mib=4000.0,
        memory_total_mib=120000.0,
        temperature_c=70.0,
        power_w=30.5,
    )
    unified = fold_gpus(parse_gpu_csv("NVIDIA GB10, 5, [N/A], [N/A], 38, 12.1\n"))
    assert unified is not None and unified.memory_used_mib is None
    assert fold_gpus([]) is None


def test_history_keeps_one_hour_and_records_gaps() -> None:
    history = GpuHistory(["spark1", "spark2"], interval_s=60, window_s=3600)
    reading = GpuSample("NVIDIA GB10", 10.0, 2000.0, 122880.0, 40.0, 12.0)
    for minute in range(90):
        history.add("spark1", T0 + timedelta(minutes=minute), reading)
    history.add("spark2", T0, None)
    history.add("nowhere", T0, reading)  # not a configured Spark: ignored
    view = history.view()
    assert view.interval_s == 60 and set(view.sparks) == {"spark1", "spark2"}
    points = view.sparks["spark1"]
    assert len(points) == 61
    assert points[0].t == "2026-06-17T12:29:00+00:00"
    assert points[-1].t == "2026-06-17T13:29:00+00:00"
    assert (points[-1].util, points[-1].mem_used_mib, points[-1].temp_c) == (10.0, 2000.0, 40.0)
    [gap] = view.sparks["spark2"]
    assert (gap.util, gap.mem_used_mib, gap.mem_total_mib, gap.temp_c, gap.power_w) == (None,) * 5


class _Clock:
    def now(self) -> datetime:
        return T0

    def monotonic(self) -> float:
        return 0.0


def _cache(bus: EventBus, metrics: Metrics) -> StatusCache:
    config = parse_config(
        {
            "sparks": [{"name": "spark1", "host": "10.0.0.1"}],
            "services": {"disabled": ["qdrant"], "overrides_file": ""},
        },
        {},
    )
    return StatusCache(config, ServiceRegistry(config), events=bus, metrics=metrics, clock=_Clock())


def test_service_events_on_first_result_and_on_changes_only() -> None:
    bus, metrics = EventBus(), Metrics()
    cache = _cache(bus, metrics)
    kokoro, qdrant = cache.service("kokoro"), cache.service("qdrant")
    assert kokoro is not None and kokoro.state == "down"
    assert qdrant is not None and qdrant.state == "disabled"
    for up in (True, True, False, False, True):
        cache.record_service("kokoro", ServiceProbe(up, 3.0 if up else None, "x"))
    assert cache.record_service("qdrant", ServiceProbe(True, 1.0, "x")) is None
    events = [(e.kind, e.data["key"], e.data["state"]) for e in bus.recent()]
    assert events == [
        ("service", "kokoro", "up"),
        ("service", "kokoro", "down"),
        ("service", "kokoro", "up"),
    ]
    assert b'spark_service_up{service="kokoro"} 1.0' in metrics.render()
    assert b'service="qdrant"' not in metrics.render()


def test_spark_reachability_changes_are_published_and_stale_gpu_series_dropped() -> None:
    bus, metrics = EventBus(), Metrics()
    cache = _cache(bus, metrics)
    reading = GpuSample("NVIDIA GB10", 7.0, 1500.0, 122880.0, 38.0, 12.0)
    cache.record_spark("spark1", SparkProbe(True, reading, "reachable"))
    cache.record_spark("spark1", SparkProbe(True, reading, "reachable"))
    assert b'spark_gpu_memory_used_mib{spark="spark1"} 1500.0' in metrics.render()
    cache.record_spark("spark1", SparkProbe(False, None, "spark1 is unreachable over SSH."))
    assert [(e.kind, e.data["reachable"]) for e in bus.recent()] == [
        ("spark", True),
        ("spark", False),
    ]
    [spark] = cache.sparks()
    assert spark.reachable is False and spark.gpu is None
    assert spark.checked_at == "2026-06-17T12:00:00+00:00"
    assert b'spark_gpu_memory_used_mib{spark="spark1"}' not in metrics.render()


async def test_http_failures_are_sentences_without_class_names() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        async with httpx.AsyncClient() as client:
            probe = await probe_http(client, f"http://127.0.0.1:{port}/health", timeout=2)
            assert probe.up is False and probe.latency_ms is None
            assert probe.detail == "connection refused (nothing listens on that port)"
            with pytest.raises(httpx.ConnectError) as raised:
                await client.get("http://name.invalid/health", timeout=5)
            assert describe_http_failure(raised.value, 5) == "the host name does not resolve"
    assert describe_http_failure(httpx.ReadTimeout("x"), 2.5) == "no answer within 2.5 s"
    assert "Error" not in describe_http_failure(httpx.RemoteProtocolError("boom"), 1)
