"""The one way the ASGI middlewares (host allow-list, same-origin guard, API keys) answer
before Litestar runs: a complete JSON response in two events."""

from __future__ import annotations

from collections.abc import Iterable

from litestar.types import HTTPResponseStartEvent, Send


async def send_json(
    send: Send, status: int, body: bytes, extra: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Send ``body`` (already JSON) with ``status``, its length and any ``extra`` headers."""
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *extra,
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
