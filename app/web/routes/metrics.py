"""``GET /metrics``: Prometheus text exposition of the app's own registry."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from prometheus_client import CONTENT_TYPE_LATEST

from app.web.deps import Rt


@get("/metrics", tags=["status"], sync_to_thread=False, media_type=CONTENT_TYPE_LATEST)
def metrics(rt: Rt) -> Response[Any]:
    """Swaps, proxy traffic, the lock, GPUs and services in the Prometheus text format."""
    return Response(rt.metrics.render(), media_type=CONTENT_TYPE_LATEST)


HANDLERS = [metrics]
