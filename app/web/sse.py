"""Server-Sent Events helpers: every event carries an ``id:``; quiet streams get heartbeats;
``Last-Event-ID`` is parsed leniently (a bad value means "from the start").

A stream given ``closing`` ends as soon as that event is set: the server sets it when it
begins to shut down, so open streams finish cleanly instead of being cancelled when uvicorn's
graceful-shutdown timeout runs out (which it logs as an error with a traceback).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request
from litestar.background_tasks import BackgroundTask
from litestar.response import ServerSentEvent, ServerSentEventMessage

HEARTBEAT_S = 15.0
# Declared on SSE handlers so the OpenAPI schema documents what they really send.
EVENT_STREAM = "text/event-stream"


def last_event_id(request: Request[Any, Any, Any], query_value: str | None = None) -> int:
    raw = request.headers.get("last-event-id") or query_value or ""
    try:
        value = int(raw.strip())
    except ValueError:
        return 0
    return max(0, value)


def message(event: str, data: Any, event_id: int) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        data=msgspec.json.encode(msgspec.to_builtins(data)).decode(), event=event, id=str(event_id)
    )


def heartbeat() -> ServerSentEventMessage:
    return ServerSentEventMessage(comment="heartbeat")


async def until_closing(
    messages: AsyncIterator[ServerSentEventMessage], closing: asyncio.Event
) -> AsyncIterator[ServerSentEventMessage]:
    """``messages`` until they end or ``closing`` is set, whichever comes first. However this
    generator ends (the client left, the server is closing), the pending read is cancelled and
    ``messages`` is closed, so its own cleanup runs at once."""
    stop = asyncio.ensure_future(closing.wait())
    following: asyncio.Future[ServerSentEventMessage] | None = None
    try:
        while not closing.is_set():
            following = asyncio.ensure_future(anext(messages))
            await asyncio.wait({following, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                return
            try:
                item = following.result()
            except StopAsyncIteration:
                return
            following = None
            yield item
    finally:
        stop.cancel()
        if following is not None and not following.done():
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await following
        aclose = getattr(messages, "aclose", None)
        if aclose is not None:
            await aclose()


def sse_response(
    generator: Any,
    background: BackgroundTask | None = None,
    *,
    closing: asyncio.Event | None = None,
) -> ServerSentEvent:
    """The SSE response for ``generator``. ``background`` runs once the response is over,
    including when the client went away before the generator ever ran (so its ``finally``
    never did): give it the same idempotent cleanup as the generator's ``finally``.
    ``closing`` (the runtime's) ends the stream when the server begins to shut down."""
    if closing is not None:
        generator = until_closing(generator, closing)
    return ServerSentEvent(
        generator,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=background,
    )
