"""Spark Control's persistent history on the data volume (SQLite): swap jobs, weights downloads,
webhook deliveries and GPU readings. No HTTP here; the runtime wires it in.

:class:`Storage` opens one :class:`Database` and the stores that share it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from app.storage.database import Database
from app.storage.deliveries import Delivery, DeliveryStore
from app.storage.downloads import DownloadStore
from app.storage.gpu import GpuRow, GpuStore
from app.storage.swaps import ModelStats, Quantiles, StoredJob, SwapStore

__all__ = [
    "Database",
    "Delivery",
    "DeliveryStore",
    "DownloadStore",
    "GpuRow",
    "GpuStore",
    "ModelStats",
    "Quantiles",
    "Storage",
    "StoredJob",
    "SwapStore",
]


class Storage:
    """The database and its stores. ``history_days`` bounds swap jobs, downloads and
    deliveries; GPU readings keep ``gpu_full_rate_s`` at full rate and ``gpu_days`` of
    one-minute averages."""

    def __init__(
        self,
        path: str,
        *,
        now: Callable[[], datetime],
        history_days: int = 90,
        gpu_full_rate_s: float = 3600.0,
        gpu_days: int = 7,
    ) -> None:
        self.db = Database(path, now=now)
        self._now = now
        self.history_days = history_days
        self.swaps = SwapStore(self.db)
        self.deliveries = DeliveryStore(self.db)
        self.downloads = DownloadStore(self.db)
        self.gpu = GpuStore(self.db, full_rate_s=gpu_full_rate_s, minutes_days=gpu_days)

    @property
    def warnings(self) -> list[str]:
        return self.db.warnings

    def prune(self) -> None:
        """Queue deletion of rows older than the retention."""
        cutoff = self._now() - timedelta(days=self.history_days)
        self.swaps.prune(cutoff)
        self.downloads.prune(cutoff)
        self.deliveries.prune(cutoff)
