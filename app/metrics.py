"""Prometheus metrics for ``GET /metrics``: one registry per app (no module-level global, so
several apps in one test process never share counters).

Producers call the small methods below; nothing here blocks or does I/O.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

SWAP_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
PHASE_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)
PROXY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.swaps = Counter(
            "spark_swaps", "Real swaps finished, by outcome.", ["outcome"], registry=r
        )
        self.swap_seconds = Histogram(
            "spark_swap_duration_seconds",
            "Duration of real swaps, by outcome.",
            ["outcome"],
            buckets=SWAP_BUCKETS,
            registry=r,
        )
        self.swap_phase_seconds = Histogram(
            "spark_swap_phase_duration_seconds",
            "Time real swaps spent in each phase.",
            ["phase"],
            buckets=PHASE_BUCKETS,
            registry=r,
        )
        self.proxy_requests = Counter(
            "spark_proxy_requests",
            "Proxied requests, by route and status.",
            ["route", "status"],
            registry=r,
        )
        self.proxy_seconds = Histogram(
            "spark_proxy_request_duration_seconds",
            "Time from request to the end of the proxied response, by route.",
            ["route"],
            buckets=PROXY_BUCKETS,
            registry=r,
        )
        self.proxy_in_flight = Gauge(
            "spark_proxy_in_flight", "Proxied requests in flight, by route.", ["route"], registry=r
        )
        self.lock_held = Gauge("spark_swap_lock_held", "1 while the swap lock is held.", registry=r)
        self.gpu_util = Gauge(
            "spark_gpu_utilization_percent", "GPU utilisation per Spark.", ["spark"], registry=r
        )
        self.gpu_mem_used = Gauge(
            "spark_gpu_memory_used_mib", "GPU memory used per Spark.", ["spark"], registry=r
        )
        self.gpu_mem_total = Gauge(
            "spark_gpu_memory_total_mib", "GPU memory total per Spark.", ["spark"], registry=r
        )
        self.gpu_busy = Gauge(
            "spark_gpu_busy_seconds_total",
            "Seconds during which at least one proxied request was in flight.",
            registry=r,
        )
        self.gpu_busy.set_function(self._busy_seconds)
        self.service_up = Gauge(
            "spark_service_up", "1 when a service's last probe succeeded.", ["service"], registry=r
        )
        self.webhooks = Counter(
            "spark_webhook_deliveries", "Webhook deliveries, by outcome.", ["outcome"], registry=r
        )
        self._route_children: dict[str, tuple[Any, Any]] = {}
        # Requests in flight per route: plain counts, read by the gauge when scraped (the
        # gauge's own inc()/dec() take a lock and four calls, on every proxied request).
        self._in_flight: dict[str, int] = {}
        self._request_children: dict[tuple[str, int], Any] = {}
        self.downloads = Counter(
            "spark_downloads", "Weights downloads finished, by outcome.", ["outcome"], registry=r
        )
        self.download_bytes = Counter(
            "spark_download_bytes",
            "Planned bytes present on the Sparks when downloads finished, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.download_seconds = Histogram(
            "spark_download_duration_seconds",
            "Duration of weights downloads, by outcome.",
            ["outcome"],
            buckets=SWAP_BUCKETS,
            registry=r,
        )
        self.downloads_running = Gauge(
            "spark_downloads_running", "Weights downloads in progress.", registry=r
        )
        self._in_flight_total = 0
        self._busy_since: float | None = None
        self._busy_accumulated = 0.0

    # --- producers ---------------------------------------------------------------------------

    def swap_finished(self, outcome: str, seconds: float) -> None:
        self.swaps.labels(outcome).inc()
        self.swap_seconds.labels(outcome).observe(max(0.0, seconds))

    def swap_phases(self, seconds: dict[str, float]) -> None:
        """A finished real swap's time per phase (``{"loading": 42.0, ...}``)."""
        for phase, value in seconds.items():
            self.swap_phase_seconds.labels(phase).observe(max(0.0, value))

    def _route(self, route: str) -> tuple[Any, Any]:
        """The in-flight gauge and latency histogram of ``route`` (``labels()`` looks them up
        under a lock and builds a key each time: cached, as routes are a fixed handful)."""
        found = self._route_children.get(route)
        if found is None:
            gauge = self.proxy_in_flight.labels(route)
            gauge.set_function(lambda: self._in_flight.get(route, 0))
            found = self._route_children[route] = (gauge, self.proxy_seconds.labels(route))
            self._in_flight.setdefault(route, 0)
        return found

    def _counted(self, route: str, status: int) -> Any:
        found = self._request_children.get((route, status))
        if found is None:
            found = self._request_children[(route, status)] = self.proxy_requests.labels(
                route, str(status)
            )
        return found

    def download_started(self) -> None:
        self.downloads_running.inc()

    def download_finished(self, outcome: str, bytes_done: int, seconds: float) -> None:
        self.downloads_running.dec()
        self.downloads.labels(outcome).inc()
        self.download_bytes.labels(outcome).inc(max(0, bytes_done))
        self.download_seconds.labels(outcome).observe(max(0.0, seconds))

    def proxy_started(self, route: str) -> float:
        """Call when a proxied request starts; returns the start time to pass to ``finished``."""
        if route not in self._in_flight:
            self._route(route)
        self._in_flight[route] += 1
        if self._in_flight_total == 0:
            self._busy_since = time.monotonic()
        self._in_flight_total += 1
        return time.monotonic()

    def proxy_finished(self, route: str, status: int, started: float) -> None:
        seconds = self._route(route)[1]
        self._in_flight[route] -= 1
        self._in_flight_total = max(0, self._in_flight_total - 1)
        if self._in_flight_total == 0 and self._busy_since is not None:
            self._busy_accumulated += time.monotonic() - self._busy_since
            self._busy_since = None
        self._counted(route, status).inc()
        seconds.observe(time.monotonic() - started)

    def proxy_refused(self, route: str, status: int) -> None:
        """A proxied request answered by Spark Control itself (404/413/429/503) without upstream."""
        self._counted(route, status).inc()

    def _busy_seconds(self) -> float:
        open_interval = time.monotonic() - self._busy_since if self._busy_since is not None else 0.0
        return self._busy_accumulated + open_interval

    def set_lock_held(self, held: bool) -> None:
        self.lock_held.set(1 if held else 0)

    def gpu_sample(
        self, spark: str, utilization: float | None, used_mib: float | None, total_mib: float | None
    ) -> None:
        if utilization is not None:
            self.gpu_util.labels(spark).set(utilization)
        if used_mib is not None:
            self.gpu_mem_used.labels(spark).set(used_mib)
        if total_mib is not None:
            self.gpu_mem_total.labels(spark).set(total_mib)

    def gpu_unavailable(self, spark: str) -> None:
        """No reading from ``spark`` (unreachable, nvidia-smi failed): drop its GPU series
        rather than keep exporting the last figures as if they were current."""
        for gauge in (self.gpu_util, self.gpu_mem_used, self.gpu_mem_total):
            with contextlib.suppress(KeyError):
                gauge.remove(spark)

    def service_state(self, key: str, up: bool) -> None:
        self.service_up.labels(key).set(1 if up else 0)

    def webhook_result(self, ok: bool) -> None:
        self.webhooks.labels("delivered" if ok else "failed").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
