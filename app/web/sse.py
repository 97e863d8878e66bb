"""Server-Sent Events helpers: every event carries an ``id:``; quiet streams get heartbeats;
``Last-Event-ID`` is parsed leniently (a bad value means "from the start")."""

from __future__ import annotations

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


def sse_response(generator: Any, background: BackgroundTask | None = None) -> ServerSentEvent:
    """The SSE response for ``generator``. ``background`` runs once the response is over,
    including when the client went away before the generator ever ran (so its ``finally``
    never did): give it the same idempotent cleanup as the generator's ``finally``."""
    return ServerSentEvent(
        generator,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=background,
    )
