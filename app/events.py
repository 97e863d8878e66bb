"""The in-process event bus: every state change (swap, lock, schedule, service, model) is
published here once, with a monotone sequence number, and fanned out to subscribers (the SSE
endpoint, metrics, the webhook).

Contract:
* ``publish`` is synchronous and never blocks: the engine and request handlers call it inline.
* A subscriber gets a bounded queue. If it falls behind and the queue overflows, its backlog is
  dropped and its next event is a ``resync`` event: the client must refetch state. A slow
  subscriber therefore never blocks the publisher or the other subscribers.
* ``subscribe(last_event_id=N)`` first replays the events after N still held in the bounded
  history ring; if N is older than the ring, it starts with ``resync`` instead.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from app.clock import Clock, SystemClock, isoformat

RESYNC = "resync"


class Event(msgspec.Struct, frozen=True):
    id: int
    kind: str
    at: str
    data: Any


class Subscription:
    """One subscriber's view of the bus; iterate it, and close it (or use ``async with``)."""

    def __init__(self, bus: EventBus, queue_size: int) -> None:
        self._bus = bus
        self._queue: deque[Event] = deque()
        self._queue_size = queue_size
        self._wakeup = asyncio.Event()
        self._overflowed = False
        self.closed = False

    def _offer(self, event: Event) -> None:
        if self._overflowed:
            return
        if len(self._queue) >= self._queue_size:
            self._queue.clear()
            self._overflowed = True
        else:
            self._queue.append(event)
        self._wakeup.set()

    def _resync(self) -> None:
        self._queue.clear()
        self._overflowed = True
        self._wakeup.set()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.next()

    async def next(self, timeout: float | None = None) -> Event:
        """The next event; raises ``TimeoutError`` after ``timeout`` seconds without one and
        ``StopAsyncIteration`` once closed."""
        while True:
            if self.closed:
                raise StopAsyncIteration
            if self._overflowed:
                self._overflowed = False
                return self._bus.make_resync()
            if self._queue:
                return self._queue.popleft()
            self._wakeup.clear()
            if timeout is None:
                await self._wakeup.wait()
            else:
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()
        self._bus._subscribers.discard(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self, *, clock: Clock | None = None, history: int = 1000, queue_size: int = 512):
        self._clock = clock or SystemClock()
        self._history: deque[Event] = deque(maxlen=history)
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._last_id = 0

    @property
    def last_id(self) -> int:
        return self._last_id

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, data: Any) -> Event:
        """Record ``data`` (msgspec-encodable) as a ``kind`` event and offer it to everyone."""
        self._last_id += 1
        event = Event(
            id=self._last_id,
            kind=kind,
            at=isoformat(self._clock.now()),
            data=msgspec.to_builtins(data),
        )
        self._history.append(event)
        for subscriber in tuple(self._subscribers):
            subscriber._offer(event)
        return event

    def make_resync(self) -> Event:
        """A ``resync`` marker carrying the current sequence number (not stored in history)."""
        return Event(id=self._last_id, kind=RESYNC, at=isoformat(self._clock.now()), data={})

    def subscribe(self, last_event_id: int | None = None) -> Subscription:
        sub = Subscription(self, self._queue_size)
        if last_event_id is not None and last_event_id > self._last_id:
            # The client saw ids this process never issued: the server restarted.
            sub._resync()
        elif last_event_id is not None and last_event_id < self._last_id:
            oldest = self._history[0].id if self._history else self._last_id + 1
            if last_event_id + 1 < oldest:
                sub._resync()
            else:
                for event in self._history:
                    if event.id > last_event_id:
                        sub._offer(event)
        self._subscribers.add(sub)
        return sub

    def recent(self, limit: int = 50) -> list[Event]:
        """The newest ``limit`` events still in history, oldest first."""
        return list(self._history)[-limit:]
