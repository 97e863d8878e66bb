"""``GET /api/endpoints`` (every known service, disabled ones flagged) and
``GET /api/gpu/history`` (the last hour of GPU readings per Spark)."""

from __future__ import annotations

import msgspec
from litestar import get

from app.services.gpu_history import GpuHistoryView
from app.web.deps import Rt


class Endpoint(msgspec.Struct, frozen=True):
    key: str
    name: str
    kind: str
    url: str | None
    node: str | None
    disabled: bool


class Endpoints(msgspec.Struct, frozen=True):
    endpoints: list[Endpoint]


@get("/api/endpoints", tags=["status"], sync_to_thread=False)
def endpoints(rt: Rt) -> Endpoints:
    """Every service Spark Control knows (built-ins and ``services-overrides.yaml``), in a
    stable order. Disabled services are listed with ``disabled: true``, not hidden."""
    return Endpoints(
        endpoints=[
            Endpoint(
                key=s.key, name=s.name, kind=s.kind, url=s.url, node=s.node, disabled=s.disabled
            )
            for s in rt.services.all()
        ]
    )


@get("/api/gpu/history", tags=["status"], sync_to_thread=False)
def gpu_history(rt: Rt) -> GpuHistoryView:
    """One point per probe round and Spark over the last hour, oldest first:
    ``{t, util, mem_used_mib, mem_total_mib, temp_c, power_w}``; all figures are null when
    the Spark gave no reading (unreachable). ``interval_s`` is the probe interval."""
    return rt.monitor.history.view()


HANDLERS = [endpoints, gpu_history]
