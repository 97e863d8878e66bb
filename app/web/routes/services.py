"""``GET /api/endpoints`` (every known service, disabled ones flagged) and
``GET /api/gpu/history`` (GPU readings per Spark over the last hour, day or week)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import get
from litestar.params import QueryParameter

from app.clock import isoformat
from app.services.gpu_history import GpuHistoryView, GpuPoint
from app.web.deps import Rt
from app.web.responses import error_responses


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


RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}
Range = Annotated[
    Literal["1h", "24h", "7d"],
    QueryParameter(name="range", description="1h (every reading), 24h or 7d (averages)."),
]


@get("/api/gpu/history", tags=["status"], responses=error_responses(400))
async def gpu_history(rt: Rt, span: Range = "1h") -> GpuHistoryView:
    """GPU readings per Spark, oldest first: ``{t, util, mem_used_mib, mem_total_mib, temp_c,
    power_w}``; figures are null when the Spark gave no reading (unreachable). ``1h``: one
    point per probe round (``interval_s`` is the probe interval); ``24h`` / ``7d``: averages
    over ``interval_s`` seconds (two and fourteen minutes), from the saved one-minute means."""
    if span == "1h":
        return rt.monitor.history.view()
    seconds = RANGES[span]
    names = [s.name for s in rt.config.sparks]
    rows = await rt.storage.gpu.rows(names, seconds, rt.clock.now().timestamp())
    sparks = {
        name: [
            GpuPoint(isoformat(datetime.fromtimestamp(r.t, UTC)), *msgspec.structs.astuple(r)[1:])
            for r in points
        ]
        for name, points in rows.items()
    }
    return GpuHistoryView(interval_s=float(rt.storage.gpu.bucket_s(seconds)), sparks=sparks)


HANDLERS = [endpoints, gpu_history]
