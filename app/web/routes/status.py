"""``GET /api/status``: one snapshot of everything the dashboard shows, served from memory."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import get

from app.coordination.lock import LockStatus
from app.web.deps import Rt


class SparkStatus(msgspec.Struct, frozen=True):
    name: str
    host: str
    role: str
    reachable: bool | None
    gpu: dict[str, Any] | None


class ModelState(msgspec.Struct, frozen=True):
    key: str | None
    state: str


class Status(msgspec.Struct, frozen=True):
    configured: bool
    sparks: list[SparkStatus]
    services: list[dict[str, Any]]
    model: ModelState
    lock: LockStatus
    swap: dict[str, Any] | None
    warnings: list[str]


@get("/api/status", tags=["status"], sync_to_thread=False)
def status(rt: Rt) -> Status:
    """The cluster as last observed; never waits on a Spark."""
    sparks = [
        SparkStatus(
            name=spark.name,
            host=spark.host,
            role="head" if index == 0 else "worker",
            reachable=None,
            gpu=None,
        )
        for index, spark in enumerate(rt.config.sparks)
    ]
    return Status(
        configured=rt.config.configured,
        sparks=sparks,
        services=[],
        model=ModelState(key=None, state="unknown"),
        lock=rt.lock.status(),
        swap=None,
        warnings=rt.warnings,
    )


HANDLERS = [status]
