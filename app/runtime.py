"""The composition root: builds the domain services from the config and the external systems
handed in (clock, SSH transport, HTTP client, webhook sender). It knows nothing about HTTP
serving; ``app.web.create_app`` wraps it. Tests build a ``Runtime`` with substitutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec

from app.catalog.disk import DiskScanner
from app.catalog.manager import CatalogManager
from app.catalog.models import ModelDef
from app.catalog.store import Catalog, CatalogError, load_base_catalog
from app.clock import Clock, SystemClock, isoformat
from app.cluster.gpu import GpuSample
from app.cluster.keys import ensure_client_key
from app.cluster.ssh import AsyncsshTransport, SshTransport
from app.config import Config
from app.coordination.lock import LockStatus, SwapLock
from app.coordination.notifications import Notifier
from app.coordination.schedule import Schedule, ScheduleRegistry
from app.coordination.webhook import WebhookSender
from app.datavolume import DataVolume, check_writable
from app.downloads import DownloadManager, ManifestStore
from app.errors import NO_SPARKS_WARNING
from app.events import EventBus
from app.metrics import Metrics
from app.proxy.admission import SwapGate
from app.proxy.h1 import H1Upstream
from app.proxy.policy import MIB, ProxyLimits, ProxyPolicy
from app.proxy.upstream import Upstream
from app.services.monitor import ProbeSettings, StatusMonitor
from app.services.registry import ServiceRegistry
from app.services.vllm_logs import VllmLogs
from app.storage import Storage, StoredJob
from app.swap.crash_cause import CrashInspector
from app.swap.engine import SwapEngine
from app.swap.jobs import Job
from app.swap.load_times import JobLoadTimes
from app.swap.on_request import EngineSwapControl
from app.swap.running import ServedModel
from app.swap.settings import Timings
from app.swap.watchdog import CrashWatchdog
from app.tls import client_context

log = logging.getLogger("spark_control")

PRUNE_EVERY_S = 6 * 3600


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
        # The history database; it opens (on its own thread) at start.
        self.storage = Storage(
            config.storage.database,
            now=self.clock.now,
            history_days=config.storage.history_days,
            gpu_days=config.storage.gpu_days,
        )
        self.webhook = webhook or WebhookSender(
            config.webhook.url,
            config.webhook.secret,
            events=config.webhook.events,
            retries=config.webhook.retries,
            on_result=self.metrics.webhook_result,
        )
        if self.webhook.on_delivery is None:
            self.webhook.on_delivery = self.storage.deliveries.record
        self.notifier = Notifier(self.events, self.webhook)
        self.ssh: SshTransport = ssh or AsyncsshTransport(
            config.sparks, key_file=config.ssh.key_file, known_hosts=config.ssh.known_hosts
        )
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(
            trust_env=False, timeout=httpx.Timeout(10.0), verify=client_context()
        )
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
            journal=self._journal_job,
        )
        # Median seconds of a swap to each model, from the history database (refreshed as
        # swaps start): what the admission's Retry-After falls back to after a restart.
        self._typical_swap_s: dict[str, float] = {}
        # Admission of LLM requests around swaps (drain, hold, swap on request).
        self.gate = SwapGate(
            config.swap,
            self.clock,
            JobLoadTimes(self.engine.history, self._typical_swap_s),
            self._served_name_of,
            EngineSwapControl(self.engine, self.served, self.lock, self.catalog)
            if config.swap.on_request
            else None,
            on_held=self.engine.held_changed,
        )
        self.engine.phases.traffic = self.gate
        inspector = CrashInspector(
            self.ssh, config, self.catalog, self.engine.timings.command_timeout_s
        )
        self.watchdog = CrashWatchdog(
            config.watchdog, self.engine, self.served, self.lock, self.events, self.clock, inspector
        )
        self.served.listeners.append(self.watchdog.observe)
        overrides = config.models.overrides_file
        self.downloads = DownloadManager(
            config,
            ssh=self.ssh,
            http=self.http,
            catalog=self.catalog,
            events=self.events,
            clock=self.clock,
            # Manifests of verified downloads live beside the model overrides (/data).
            manifests=ManifestStore(
                str(Path(overrides).parent / "downloads") if overrides else None
            ),
            metrics=self.metrics,
            start_swap=lambda key: self.engine.start(key).job_id,
            on_finished=self._download_finished,
            record=self.record_download,
        )
        self.engine.phases.weights_check = self.downloads.size_check
        # The OpenAI-compatible proxy: its own connection pool (separate from ``http``, which
        # probes and the swap engine use with short timeouts).
        self._owns_upstream = upstream is None
        self.upstream: Upstream = upstream or H1Upstream()
        self.proxy = ProxyPolicy(
            self.services,
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
            gpu_sink=self._store_gpu,
        )
        self.vllm_logs = VllmLogs(config, self.ssh)
        self._background: set[asyncio.Task[Any]] = set()
        # Set when the server begins to shut down (before it waits for open connections):
        # Server-Sent Event streams end on it, so none is left to be cancelled with an error.
        self.closing = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _load_base_catalog(self) -> tuple[ModelDef, ...]:
        try:
            return load_base_catalog(self.config.models.catalog_file)
        except CatalogError as err:
            self._extra_warnings.append(f"catalog: {err}; using the bundled catalog instead.")
            return load_base_catalog("")

    def catalog(self) -> Catalog:
        """The current catalog snapshot (immutable)."""
        return self.catalog_manager.snapshot()

    def _served_name_of(self, key: str) -> str | None:
        model = self.catalog().get(key)
        return model.served_name if model is not None else None

    def _catalog_changed(self, action: str, key: str) -> None:
        self.events.publish("model", {"action": action, "key": key})
        self.disk.refresh_soon()

    def _download_finished(self, key: str) -> None:
        """Rescan the disks, then tell the dashboard the model's weights changed."""

        async def rescan() -> None:
            try:
                await self.disk.scan()
            except Exception:
                log.exception("disk scan after a download failed")
            self.events.publish("model", {"action": "weights", "key": key})

        self.spawn(rescan(), f"rescan-{key}")

    @property
    def warnings(self) -> list[str]:
        warnings = [
            *self.config.warnings,
            *self._extra_warnings,
            *self.services.warnings,
            *self.catalog_manager.warnings,
            *self.storage.warnings,
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
                # The history database and its WAL beside it (":memory:" writes nothing).
                *(
                    []
                    if self.config.storage.database == ":memory:"
                    else [self.config.storage.database]
                ),
            ]
        )

    def _lock_changed(self, status: LockStatus) -> None:
        self.metrics.set_lock_held(status.held)
        self.events.publish("lock", status)
        self.notifier.lock_changed(self.lock.last_change, status)

    async def _learn_typical(self, model_key: str) -> None:
        stats = await self.storage.swaps.stats(model_key)
        if stats.total.median_s is not None:
            self._typical_swap_s[model_key] = stats.total.median_s

    def _journal_job(self, job: Job) -> None:
        """Save a job's view in the history (queued; the database thread writes it)."""
        if not job.dry_run and not job.state.terminal:
            self.spawn(self._learn_typical(job.model_key), "swap-eta")
        self.storage.swaps.save(
            StoredJob(
                job_id=job.job_id,
                model_key=job.model_key,
                state=job.state.value,
                dry_run=job.dry_run,
                started_at=job.started_at,
                finished_at=job.finished_at,
                duration_s=job.timings.total_s,
                view=msgspec.json.encode(job),
            )
        )

    def _store_gpu(self, spark: str, at: datetime, gpu: GpuSample | None) -> None:
        figures = (
            (
                gpu.utilization_pct,
                gpu.memory_used_mib,
                gpu.memory_total_mib,
                gpu.temperature_c,
                gpu.power_w,
            )
            if gpu is not None
            else None
        )
        self.storage.gpu.add(spark, at.timestamp(), figures)

    def record_download(self, download: Any) -> None:
        """For the downloads feature: save ``download`` in the history (see
        ``DownloadStore.record_download``) and, when it has ended (``finished_at`` set),
        send ``download_complete`` / ``download_failed`` through the webhook."""
        self.storage.downloads.record_download(download)
        if msgspec.to_builtins(download).get("finished_at"):
            self.notifier.download_finished(download)

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

    async def _open_storage(self) -> None:
        """Open the database (off the loop), close swaps and downloads a previous run left
        running, prune, and put the last hour of GPU readings back into the in-memory graph."""
        await asyncio.to_thread(self.storage.db.wait_open)
        self.storage.swaps.close_interrupted(isoformat(self.clock.now()))
        self.storage.downloads.close_interrupted(isoformat(self.clock.now()))
        now = self.clock.now().timestamp()
        window = self.monitor.history.window.total_seconds()
        names = [s.name for s in self.config.sparks]
        await self.storage.gpu.rollup_now(now)
        rows = await self.storage.gpu.rows(names, window, now)
        for name, points in rows.items():
            for row in points:
                self.monitor.history.add_row(name, row)

    async def _prune(self) -> None:
        while True:
            self.storage.prune()
            # Pacing retention is real waiting, not synchronisation.
            await asyncio.sleep(PRUNE_EVERY_S)

    def begin_shutdown(self) -> None:
        """The server is stopping: end the open event streams. Safe to call from a signal
        handler (it only schedules the change on the runtime's loop)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.closing.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._open_storage()
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
        self.spawn(self.notifier.run(), "notifications")
        self.spawn(self._prune(), "history-retention")
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
        self.closing.set()
        await self.watchdog.aclose()
        await self.downloads.shutdown()
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
        await asyncio.to_thread(self.storage.db.close)
