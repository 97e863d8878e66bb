"""The composition root: builds the domain services from the config and the external systems
handed in (clock, SSH transport, HTTP client, webhook sender). It knows nothing about HTTP
serving; ``app.web.create_app`` wraps it. Tests build a ``Runtime`` with substitutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx

from app.catalog.disk import DiskScanner
from app.catalog.manager import CatalogManager
from app.catalog.models import ModelDef
from app.catalog.store import Catalog, CatalogError, load_base_catalog
from app.clock import Clock, SystemClock
from app.cluster.keys import ensure_client_key
from app.cluster.ssh import AsyncsshTransport, SshTransport
from app.config import Config
from app.coordination.lock import LockStatus, SwapLock
from app.coordination.schedule import Schedule, ScheduleRegistry
from app.coordination.webhook import WebhookSender
from app.datavolume import DataVolume, check_writable
from app.errors import NO_SPARKS_WARNING
from app.events import EventBus
from app.metrics import Metrics
from app.proxy.policy import MIB, ProxyLimits, ProxyPolicy
from app.proxy.upstream import AiohttpUpstream, Upstream
from app.services.monitor import ProbeSettings, StatusMonitor
from app.services.registry import ServiceRegistry
from app.services.vllm_logs import VllmLogs
from app.swap.engine import SwapEngine
from app.swap.running import ServedModel
from app.swap.settings import Timings

log = logging.getLogger("spark_control")


class Runtime:
    """Everything the HTTP layer serves, wired together. Start it once; stop it once."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        events: EventBus | None = None,
        webhook: WebhookSender | None = None,
        ssh: SshTransport | None = None,
        http: httpx.AsyncClient | None = None,
        timings: Timings | None = None,
        upstream: Upstream | None = None,
        proxy_limits: ProxyLimits | None = None,
        probes: ProbeSettings | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.events = events or EventBus(clock=self.clock)
        self.metrics = Metrics()
        self.webhook = webhook or WebhookSender(
            config.webhook.url, config.webhook.secret, on_result=self.metrics.webhook_result
        )
        self.ssh: SshTransport = ssh or AsyncsshTransport(
            config.sparks, key_file=config.ssh.key_file, known_hosts=config.ssh.known_hosts
        )
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(10.0))
        self._extra_warnings: list[str] = []
        self.services = ServiceRegistry(config)
        self.catalog_manager = CatalogManager(
            self._load_base_catalog(),
            config.models.overrides_file,
            clock=self.clock,
            on_change=self._catalog_changed,
        )
        self.disk = DiskScanner(
            self.ssh, [s.name for s in config.sparks], config.vllm.hf_home, self.catalog
        )
        self.lock = SwapLock(self.clock, on_change=self._lock_changed)
        self.schedules = ScheduleRegistry(self.clock, on_change=self._schedule_changed)
        # What the head serves: the engine and the monitor write it, the HTTP layer reads it.
        self.served = ServedModel(config, catalog=self.catalog, events=self.events)
        self.engine = SwapEngine(
            config,
            ssh=self.ssh,
            http=self.http,
            catalog=self.catalog,
            served=self.served,
            lock=self.lock,
            events=self.events,
            webhook=self.webhook,
            clock=self.clock,
            timings=timings,
            metrics=self.metrics,
        )
        # The OpenAI-compatible proxy: its own connection pool (separate from ``http``, which
        # probes and the swap engine use with short timeouts).
        self._owns_upstream = upstream is None
        self.upstream: Upstream = upstream or AiohttpUpstream()
        self.proxy = ProxyPolicy(
            self.services,
            self.served,
            self.metrics,
            proxy_limits or ProxyLimits(upload_bytes=config.limits.max_upload_mb * MIB),
        )
        # Background probes of the Sparks and services; /api/status answers from their cache.
        self.monitor = StatusMonitor(
            config,
            self.services,
            ssh=self.ssh,
            http=self.http,
            events=self.events,
            metrics=self.metrics,
            clock=self.clock,
            settings=probes,
            head_model=self.served,
        )
        self.vllm_logs = VllmLogs(config, self.ssh)
        self._background: set[asyncio.Task[Any]] = set()

    def _load_base_catalog(self) -> tuple[ModelDef, ...]:
        try:
            return load_base_catalog(self.config.models.catalog_file)
        except CatalogError as err:
            self._extra_warnings.append(f"catalog: {err}; using the bundled catalog instead.")
            return load_base_catalog("")

    def catalog(self) -> Catalog:
        """The current catalog snapshot (immutable)."""
        return self.catalog_manager.snapshot()

    def _catalog_changed(self, action: str, key: str) -> None:
        self.events.publish("model", {"action": action, "key": key})
        self.disk.refresh_soon()

    @property
    def warnings(self) -> list[str]:
        warnings = [
            *self.config.warnings,
            *self._extra_warnings,
            *self.services.warnings,
            *self.catalog_manager.warnings,
        ]
        if not self.config.configured:
            warnings.append(NO_SPARKS_WARNING)
        return warnings

    def data_volume(self) -> DataVolume:
        """Whether every file the app writes at run time can be written (see app.datavolume)."""
        key = self.config.ssh.key_file
        return check_writable(
            [
                key,
                f"{key}.pub",
                self.config.ssh.known_hosts,
                self.config.models.overrides_file,
                self.config.services.overrides_file,
            ]
        )

    def _lock_changed(self, status: LockStatus) -> None:
        self.metrics.set_lock_held(status.held)
        self.events.publish("lock", status)

    def _schedule_changed(self, action: str, schedule: Schedule | None, schedule_id: str) -> None:
        data: dict[str, Any] = {"action": action, "id": schedule_id}
        if schedule is not None:
            data["schedule"] = schedule
        self.events.publish("schedule", data)

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` in the background for the life of the runtime (cancelled at stop)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def start(self) -> None:
        for warning in self.warnings:
            log.warning("config: %s", warning)
        if self.config.configured:
            # The key pair exists from the first start on, so "Show SSH public key" has something
            # to show before any Spark has been contacted.
            try:
                await asyncio.to_thread(ensure_client_key, self.config.ssh.key_file)
            except OSError as err:
                log.warning(
                    "cannot create the SSH key %s: %s", self.config.ssh.key_file, err.strerror
                )
        self.spawn(self.monitor.run(), "status-probes")
        if self.config.configured:
            self.spawn(self._discover(), "discover-running-model")
            self.spawn(self.disk.run(), "disk-scan")

    async def _discover(self) -> None:
        try:
            await self.engine.discover_running()
        except Exception:
            log.exception("could not determine the running model at startup")

    async def stop(self) -> None:
        await self.engine.shutdown()
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.webhook.aclose()
        await self.ssh.close()
        if self._owns_http:
            await self.http.aclose()
        if self._owns_upstream:
            await self.upstream.aclose()
