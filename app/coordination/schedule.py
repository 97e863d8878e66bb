"""The read-only schedule registry (coordination seed §3): external schedulers register what
they will do to the GPU and when; Spark Control only displays it and never executes anything.

Contract:
* ``register(entry)`` stores or updates by ``id`` (generated when omitted). Updating keeps
  ``registered_at`` and moves ``updated_at``.
* ``cron`` is stored exactly as given (any string up to 128 characters). When it parses as a cron
  expression (5 or 6 fields, or ``@daily``-style) and ``next_run`` was omitted, ``next_run`` is
  computed from it — and recomputed on read once that moment has passed.
* The registry is in memory and bounded (``max_entries``); when full, new ids are refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from croniter import croniter

from app.clock import Clock, isoformat
from app.cluster.commands import refuse_control_chars
from app.errors import Conflict, NotFound

# The seed's character set, except the path segments "." and "..": a client (or a proxy) would
# normalise them away in ``DELETE /api/schedule/{id}``, so such an entry could never be deleted.
SCHEDULE_ID = r"^(?!\.\.?$)[A-Za-z0-9_.-]{1,64}$"
MAX_ENTRIES = 500


class ScheduleIn(msgspec.Struct):
    """``POST /api/schedule`` body. Unknown fields are ignored (as the lock's are), so a newer
    scheduler can register against an older Spark Control."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    id: Annotated[str, msgspec.Meta(pattern=SCHEDULE_ID)] | None = None
    owner: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    cron: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    next_run: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=2000)] | None = None

    def __post_init__(self) -> None:
        # "nightly\n" would pass the pattern and make an entry DELETE /api/schedule/nightly
        # never finds.
        refuse_control_chars(self, "id")


class Schedule(msgspec.Struct, frozen=True):
    """A stored entry, as listed."""

    id: str
    name: str
    owner: str | None
    cron: str | None
    next_run: str | None
    description: str | None
    registered_at: str
    updated_at: str


class ScheduleList(msgspec.Struct, frozen=True):
    schedules: list[Schedule]


class RegistryFull(Conflict):
    """No room for another schedule id."""


class ScheduleNotFound(NotFound):
    """No schedule with this id."""

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"No schedule with id {schedule_id!r}.")


class _Entry(msgspec.Struct):
    schedule: Schedule
    next_run_from_cron: bool


def next_run_from_cron(expression: str | None, after: datetime) -> datetime | None:
    """The next moment ``expression`` fires after ``after``, or None when it is not a cron
    expression croniter understands."""
    if not expression or not croniter.is_valid(expression.strip()):
        return None
    try:
        return croniter(expression.strip(), after).get_next(datetime)
    except (ValueError, KeyError, OverflowError):
        return None


class ScheduleRegistry:
    def __init__(
        self,
        clock: Clock,
        on_change: Callable[[str, Schedule | None, str], None] | None = None,
        *,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        """``on_change(action, schedule, id)`` is called after register ("registered" /
        "updated") and delete ("deleted", schedule None)."""
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._on_change = on_change
        self._max = max_entries

    def _new_id(self) -> str:
        while True:
            candidate = secrets.token_hex(6)
            if candidate not in self._entries:
                return candidate

    def register(self, entry: ScheduleIn) -> Schedule:
        now = self._clock.now()
        schedule_id = entry.id or self._new_id()
        previous = self._entries.get(schedule_id)
        if previous is None and len(self._entries) >= self._max:
            raise RegistryFull(f"The schedule registry is full ({self._max} entries).")
        next_run = entry.next_run
        computed = False
        if next_run is None:
            moment = next_run_from_cron(entry.cron, now.astimezone(UTC))
            if moment is not None:
                next_run, computed = isoformat(moment), True
        stamp = isoformat(now)
        schedule = Schedule(
            id=schedule_id,
            name=entry.name,
            owner=entry.owner,
            cron=entry.cron,
            next_run=next_run,
            description=entry.description,
            registered_at=previous.schedule.registered_at if previous else stamp,
            updated_at=stamp,
        )
        self._entries[schedule_id] = _Entry(schedule, computed)
        if self._on_change is not None:
            self._on_change("updated" if previous else "registered", schedule, schedule_id)
        return schedule

    def _fresh(self, entry: _Entry) -> Schedule:
        """The entry with a cron-derived ``next_run`` moved forward if it has passed."""
        schedule = entry.schedule
        if entry.next_run_from_cron and schedule.next_run is not None:
            now = self._clock.now()
            if datetime.fromisoformat(schedule.next_run) <= now:
                moment = next_run_from_cron(schedule.cron, now.astimezone(UTC))
                if moment is not None:
                    schedule = msgspec.structs.replace(schedule, next_run=isoformat(moment))
                    entry.schedule = schedule
        return schedule

    def list(self) -> list[Schedule]:
        return [self._fresh(entry) for entry in self._entries.values()]

    def get(self, schedule_id: str) -> Schedule | None:
        entry = self._entries.get(schedule_id)
        return self._fresh(entry) if entry else None

    def delete(self, schedule_id: str) -> None:
        """Remove ``schedule_id``; raises ScheduleNotFound when unknown."""
        if self._entries.pop(schedule_id, None) is None:
            raise ScheduleNotFound(schedule_id)
        if self._on_change is not None:
            self._on_change("deleted", None, schedule_id)
