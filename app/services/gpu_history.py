"""The last hour (``window_s``) of GPU readings per Spark, in memory, for the dashboard's graphs.

One point per background probe round and Spark; an unreachable Spark gets a point whose figures
are all null, so a graph shows a gap rather than joining across the outage. Bounded: each Spark
keeps at most ``window_s / interval_s`` points (plus one), and points older than the window are
dropped when a new one arrives. Nothing here blocks or does I/O.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import msgspec

from app.clock import isoformat
from app.cluster.gpu import GpuSample
from app.storage.gpu import GpuRow

MAX_POINTS = 20_000  # a floor on memory whatever the interval (0.2 s for an hour is 18 000)


class GpuPoint(msgspec.Struct, frozen=True):
    t: str
    util: float | None
    mem_used_mib: float | None
    mem_total_mib: float | None
    temp_c: float | None
    power_w: float | None


class GpuHistoryView(msgspec.Struct, frozen=True):
    interval_s: float
    sparks: dict[str, list[GpuPoint]]


class GpuHistory:
    def __init__(self, sparks: Iterable[str], *, interval_s: float, window_s: float = 3600.0):
        self.interval_s = interval_s
        self.window = timedelta(seconds=window_s)
        size = min(MAX_POINTS, math.ceil(window_s / max(interval_s, 0.001)) + 1)
        self._points: dict[str, deque[tuple[datetime, GpuPoint]]] = {
            name: deque(maxlen=size) for name in sparks
        }

    def add(self, spark: str, at: datetime, gpu: GpuSample | None) -> None:
        """Record ``spark``'s reading at ``at`` (None: no reading, e.g. unreachable)."""
        points = self._points.get(spark)
        if points is None:
            return
        while points and at - points[0][0] > self.window:
            points.popleft()
        points.append(
            (
                at,
                GpuPoint(
                    t=isoformat(at),
                    util=gpu.utilization_pct if gpu else None,
                    mem_used_mib=gpu.memory_used_mib if gpu else None,
                    mem_total_mib=gpu.memory_total_mib if gpu else None,
                    temp_c=gpu.temperature_c if gpu else None,
                    power_w=gpu.power_w if gpu else None,
                ),
            )
        )

    def add_row(self, spark: str, row: GpuRow) -> None:
        """Put back a reading saved in the database (at startup, oldest first)."""
        points = self._points.get(spark)
        if points is None:
            return
        at = datetime.fromtimestamp(row.t, UTC)
        points.append((at, GpuPoint(isoformat(at), *msgspec.structs.astuple(row)[1:])))

    def view(self) -> GpuHistoryView:
        """Every Spark's points, oldest first (every configured Spark, possibly empty)."""
        return GpuHistoryView(
            interval_s=self.interval_s,
            sparks={name: [point for _, point in points] for name, points in self._points.items()},
        )
