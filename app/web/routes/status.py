"""``GET /api/status``: one snapshot of everything the dashboard shows, served from memory;
``GET /api/health/deep``: the same probes, run now."""

from __future__ import annotations

import msgspec
from litestar import get

from app.coordination.lock import LockStatus
from app.datavolume import DataVolume
from app.services.monitor import DeepHealth
from app.services.status import ServiceStatus, SparkStatus
from app.swap.jobs import Job
from app.swap.running import RunningModel
from app.web.deps import Rt


class Status(msgspec.Struct, frozen=True):
    configured: bool
    sparks: list[SparkStatus]
    services: list[ServiceStatus]
    model: RunningModel
    lock: LockStatus
    swap: Job | None
    warnings: list[str]
    data_volume: DataVolume


@get("/api/status", tags=["status"], sync_to_thread=False)
def status(rt: Rt) -> Status:
    """The cluster as last observed by the background probes; never waits on a Spark.

    ``sparks``: every configured Spark (``reachable`` is null until first probed).
    ``services``: every service — enabled ones ``up`` / ``down``, disabled ones ``disabled``.
    ``model``: what the head serves. ``swap``: the real swap in progress, or null.
    ``data_volume``: whether the app can write its key, host keys and overrides."""
    active = rt.engine.active
    return Status(
        configured=rt.config.configured,
        sparks=rt.monitor.cache.sparks(),
        services=rt.monitor.cache.services(),
        model=rt.served.current,
        lock=rt.lock.status(),
        swap=active.view() if active is not None else None,
        warnings=rt.warnings,
        data_volume=rt.data_volume(),
    )


@get("/api/health/deep", tags=["status"])
async def deep_health(rt: Rt) -> DeepHealth:
    """Probe every Spark and every enabled service now (each bounded by the probe timeout)
    and answer with what was found; ``ok`` is true when all are reachable / up. Disabled
    services are listed but never contacted."""
    return await rt.monitor.probe_now()


HANDLERS = [status, deep_health]
