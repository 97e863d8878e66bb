"""``GET /api/health``: Spark Control itself is up (no probes of anything else)."""

from __future__ import annotations

import msgspec
from litestar import get

from app import __version__


class Health(msgspec.Struct, frozen=True):
    status: str
    version: str


@get("/api/health", sync_to_thread=False, tags=["status"])
def health() -> Health:
    """Liveness of Spark Control itself; answers without touching any Spark."""
    return Health(status="ok", version=__version__)


HANDLERS = [health]
