"""What a long job (a swap, a download) shares with its followers: a numbered log of its
events, and a bounded history of recent jobs.

* :class:`EventLog` numbers each event (``id`` from 1), keeps the last ``max_events``, and
  lets any number of followers read from an id on (SSE's ``Last-Event-ID``). A follower whose
  events were dropped from the ring first gets the job's current state under the id before
  the oldest kept event, then the rest. Following ends once the job has ended and its last
  event was read; a quiet ``heartbeat`` yields ``None`` (the SSE comment that keeps proxies
  from closing the stream).
* :class:`BoundedHistory` keeps the most recent jobs, oldest dropped first, but never one that
  is still running. It lives in memory: lost on restart by contract.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, Protocol, TypeVar

import msgspec


class LogEvent(msgspec.Struct, frozen=True):
    id: int
    event: str  # "state" | "log"
    data: Any


class EventLog:
    def __init__(self, max_events: int) -> None:
        self._events: deque[LogEvent] = deque(maxlen=max_events)
        self._next_id = 1
        self._changed = asyncio.Event()

    def append(self, event: str, data: Any) -> None:
        """Record one event and wake every follower."""
        self._events.append(LogEvent(id=self._next_id, event=event, data=data))
        self._next_id += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def recorded(self) -> list[LogEvent]:
        """The events still in the ring, oldest first."""
        return list(self._events)

    async def follow(
        self,
        after: int,
        *,
        heartbeat: float,
        state: Callable[[], Any],
        ended: Callable[[], bool],
    ) -> AsyncIterator[LogEvent | None]:
        """Yield events with id > ``after`` as they happen; ``None`` as a heartbeat after
        ``heartbeat`` quiet seconds. ``state()`` is the job's current view (sent when events
        were lost); ends once ``ended()`` and every event was yielded."""
        last = after
        while True:
            changed = self._changed
            pending = [e for e in self._events if e.id > last]
            if pending and pending[0].id > last + 1 and last > 0:
                # The ring dropped events the client missed: restart it from the current state.
                yield LogEvent(id=pending[0].id - 1, event="state", data=state())
            for event in pending:
                yield event
                last = event.id
            if ended() and not [e for e in self._events if e.id > last]:
                return
            try:
                async with asyncio.timeout(heartbeat):
                    await changed.wait()
            except TimeoutError:
                yield None


class _Ending(Protocol):
    @property
    def terminal(self) -> bool: ...


J = TypeVar("J", bound=_Ending)


class BoundedHistory(Generic[J]):
    """The most recent ``limit`` jobs by id, newest first."""

    def __init__(self, limit: int = 50) -> None:
        self._jobs: dict[str, J] = {}
        self._limit = limit

    def put(self, job_id: str, job: J) -> None:
        self._jobs[job_id] = job
        while len(self._jobs) > self._limit:
            oldest = next(iter(self._jobs))
            if not self._jobs[oldest].terminal:
                break
            del self._jobs[oldest]

    def get(self, job_id: str) -> J | None:
        return self._jobs.get(job_id)

    def newest_first(self) -> list[J]:
        return list(reversed(self._jobs.values()))
