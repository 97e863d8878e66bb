"""``GET /api/events``: Server-Sent Events of every state change, from the event bus.

Each bus event is sent as ``event: <kind>`` (``swap``, ``lock``, ``schedule``, ``model``,
``service``, ``spark``, ``gpu``) with ``id: <bus id>`` and ``data: {id, kind, at, data}``.

* Reconnecting with ``Last-Event-ID: N`` replays the events after N still in the bus's bounded
  ring, then goes live. When N is older than the ring (or newer than this process ever issued:
  the server restarted), the stream starts with ``event: resync`` instead: refetch the state.
* A fresh connection (no ``Last-Event-ID``) replays nothing; it starts with ``event: hello``
  whose id is the newest event id, so a reconnect resumes from there.
* A client too slow to keep up never blocks the publisher or other clients: its backlog is
  dropped and it gets ``event: resync``.
* A comment line is sent after ``HEARTBEAT_S`` quiet seconds, so proxies keep it open. The
  subscription is closed when the client goes away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, get
from litestar.background_tasks import BackgroundTask
from litestar.response import ServerSentEvent, ServerSentEventMessage

from app.events import Subscription
from app.web import sse
from app.web.deps import Rt


def _resume_from(request: Request[Any, Any, Any]) -> int | None:
    """The Last-Event-ID to resume after, or None for a fresh connection."""
    if request.headers.get("last-event-id") is None:
        return None
    return sse.last_event_id(request)


@get("/api/events", tags=["status"], sync_to_thread=False, media_type=sse.EVENT_STREAM)
def events(rt: Rt, request: Request[Any, Any, Any]) -> ServerSentEvent:
    """Every state change as Server-Sent Events with monotone ids; ``Last-Event-ID`` resumes
    from the bounded history (or sends ``resync`` when that is not possible)."""
    after = _resume_from(request)
    subscription = rt.events.subscribe(last_event_id=after)
    hello_id = rt.events.last_id if after is None else None

    async def close() -> None:
        subscription.close()

    return sse.sse_response(
        _stream(subscription, hello_id), background=BackgroundTask(close), closing=rt.closing
    )


async def _stream(
    subscription: Subscription, hello_id: int | None
) -> AsyncIterator[ServerSentEventMessage]:
    try:
        if hello_id is not None:
            yield sse.message("hello", {"last_id": hello_id}, hello_id)
        while True:
            try:
                event = await subscription.next(timeout=sse.HEARTBEAT_S)
            except TimeoutError:
                yield sse.heartbeat()
                continue
            except StopAsyncIteration:
                return
            yield sse.message(event.kind, event, event.id)
    finally:
        subscription.close()


HANDLERS = [events]
