"""The status monitor: probes every Spark and every enabled service in the background and keeps
the status cache, the GPU history, the metrics and the event bus up to date.

Contract:
* ``run()`` probes in rounds forever (cancel it to stop): a round probes everything at once,
  each probe bounded by ``timeout_s``, then rests so rounds start every ``interval_s`` (a
  round slower than that is followed at once by the next). One failing probe never stops the
  loop or the other probes.
* A disabled service is never contacted, by the background rounds or by ``probe_now``.
* Each result is stored the moment its probe finishes, so one dead host never delays the
  others' figures; readers (``/api/status``) never wait on a probe.
* After each background round, a ``gpu`` event carries every Spark's reading and the GPU
  history gains one point per Spark (``probe_now`` records neither: the history keeps an
  even cadence).
* The built-in ``vllm`` service is the head's vLLM: each probe of it is reported to the
  ``head_model`` (the served model), which marks a ``ready`` model ``failed`` when its server
  stops answering outside a swap, and ``ready`` again when it answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

import httpx
import msgspec

from app.clock import Clock, isoformat
from app.cluster.gpu import GpuSample
from app.cluster.ssh import SshTransport
from app.config import Config
from app.events import EventBus
from app.metrics import Metrics
from app.services.gpu_history import GpuHistory
from app.services.probes import ServiceProbe, SparkProbe, probe_service, probe_spark
from app.services.registry import Service, ServiceRegistry
from app.services.status import ServiceStatus, SparkStatus, StatusCache

log = logging.getLogger("spark_control.probes")

HEAD_VLLM = "vllm"


class ProbeSettings(msgspec.Struct, frozen=True):
    """How often the background probes run and how long one probe may take."""

    interval_s: float = 5.0
    timeout_s: float = 4.0
    history_s: float = 3600.0


class HeadModel(Protocol):
    """Who the monitor tells about the head's vLLM (``app.swap.running.ServedModel``)."""

    @property
    def version(self) -> int:
        """Grows on every change of the served model."""
        ...

    def observe_health(self, seen_version: int, up: bool, models: tuple[str, ...]) -> None:
        """``seen_version`` is ``version`` as it was when the probe started."""
        ...

    def loading(self) -> str | None:
        """The model a swap is loading on the head now (its served name), else None."""
        ...


class DeepHealth(msgspec.Struct, frozen=True):
    ok: bool
    checked_at: str
    sparks: list[SparkStatus]
    services: list[ServiceStatus]


class StatusMonitor:
    def __init__(
        self,
        config: Config,
        registry: ServiceRegistry,
        *,
        ssh: SshTransport,
        http: httpx.AsyncClient,
        events: EventBus,
        metrics: Metrics,
        clock: Clock,
        settings: ProbeSettings | None = None,
        head_model: HeadModel | None = None,
        gpu_sink: Callable[[str, datetime, GpuSample | None], None] | None = None,
    ) -> None:
        self.settings = settings or ProbeSettings()
        self._config = config
        self._registry = registry
        self._ssh = ssh
        self._http = http
        self._events = events
        self._clock = clock
        self._head_model = head_model
        self._gpu_sink = gpu_sink  # receives each history point too (the database)
        self.cache = StatusCache(config, registry, events=events, metrics=metrics, clock=clock)
        self.history = GpuHistory(
            [s.name for s in config.sparks],
            interval_s=self.settings.interval_s,
            window_s=self.settings.history_s,
        )
        self.rounds = 0  # background rounds completed
        self._round_done = asyncio.Event()

    # --- what gets probed ----------------------------------------------------------------

    def _probed_services(self) -> list[Service]:
        """Enabled services that have an address (the others have nothing to probe)."""
        return [s for s in self._registry.enabled() if s.url is not None]

    async def _spark(self, name: str, history: bool) -> tuple[str, GpuSample | None]:
        timeout = self.settings.timeout_s
        probe = await _guarded(
            probe_spark(self._ssh, name, timeout=timeout),
            SparkProbe(False, None, f"{name} could not be probed (internal error; see the log)."),
            f"spark {name}",
        )
        self.cache.record_spark(name, probe)
        if history:
            now = self._clock.now()
            self.history.add(name, now, probe.gpu)
            if self._gpu_sink is not None:
                self._gpu_sink(name, now, probe.gpu)
        return name, probe.gpu

    async def _service(self, service: Service) -> None:
        head = self._head_model if service.key == HEAD_VLLM else None
        seen = head.version if head is not None else 0
        probe = await _guarded(
            probe_service(self._http, service, timeout=self.settings.timeout_s),
            ServiceProbe(False, None, "could not be probed (internal error; see the log)"),
            f"service {service.key}",
        )
        # While a swap loads the head's model, vLLM refuses connections until it is up: the
        # tile says "loading", not "down".
        loading = head.loading() if head is not None else None
        self.cache.record_service(service.key, probe, loading=loading)
        if head is not None:
            head.observe_health(seen, probe.up, probe.models)

    async def _round(self, *, history: bool) -> None:
        sparks = [self._spark(s.name, history) for s in self._config.sparks]
        services = [self._service(s) for s in self._probed_services()]
        spark_results, _ = await asyncio.gather(asyncio.gather(*sparks), asyncio.gather(*services))
        if history and spark_results:
            self._events.publish(
                "gpu", {"t": isoformat(self._clock.now()), "sparks": dict(spark_results)}
            )

    # --- the two ways to probe -----------------------------------------------------------

    async def run(self) -> None:
        """Probe in rounds until cancelled (see the module docstring)."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self._round(history=True)
            except Exception:  # a bug must not end the monitoring for the life of the app
                log.exception("a status probe round failed")
            self.rounds += 1
            done, self._round_done = self._round_done, asyncio.Event()
            done.set()
            # Pacing the rounds is real waiting, not synchronisation.
            await asyncio.sleep(max(0.0, self.settings.interval_s - (loop.time() - started)))

    async def wait_rounds(self, count: int) -> None:
        """Wait until ``count`` background rounds have completed in all. No timeout of its
        own: callers bound it."""
        while self.rounds < count:
            await self._round_done.wait()

    async def probe_now(self) -> DeepHealth:
        """Probe every Spark and enabled service now; returns within about ``timeout_s``."""
        await self._round(history=False)
        sparks = self.cache.sparks()
        services = self.cache.services()
        ok = all(s.reachable for s in sparks) and all(
            s.state == "up" for s in services if s.state != "disabled"
        )
        return DeepHealth(
            ok=ok, checked_at=isoformat(self._clock.now()), sparks=sparks, services=services
        )


async def _guarded(probe: Awaitable[Any], fallback: Any, what: str) -> Any:
    """Await ``probe``; an unexpected exception (a bug, never a down target: probes return
    those) is logged and replaced by ``fallback``. Cancellation propagates."""
    try:
        return await probe
    except Exception:
        log.exception("probing %s failed unexpectedly", what)
        return fallback
