"""Time as a collaborator: the app asks a ``Clock`` for wall time and monotonic time so tests can
substitute a controllable one (lock expiry, schedule ``next_run``, job timestamps)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (durations, timeouts)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 6, 17, 12, 0, 0, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


def isoformat(moment: datetime) -> str:
    """ISO-8601 with an explicit offset and whole seconds: ``2026-06-17T12:00:00+00:00``."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()
