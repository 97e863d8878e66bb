"""The proxy's raw-ASGI pieces: message types, the OpenAI-shaped refusal, reading a request
body against its limit (from a :class:`~app.proxy.downstream.Downstream`). No web framework:
``app.proxy.exchange`` and the guards in ``app.web`` answer with these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import msgspec

from app.proxy.policy import Refusal
from app.proxy.upstream import UpstreamError, UpstreamTimeout

if TYPE_CHECKING:
    from app.proxy.downstream import Downstream

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]  # ASGI's shapes, with no web framework


class BodyTooLarge(Exception):
    """The request body grew past its limit (answered 413)."""


class ClientGone(Exception):
    """The client disconnected while its body was being read."""


def content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server rejects a malformed length before we run
    return None


def openai_error_body(message: str, type_: str, code: str | int) -> bytes:
    """The error body of the OpenAI-compatible proxy routes: ``{"error": {message, type, code}}``
    (the shape OpenAI SDKs parse). ``message`` must already be client-safe."""
    return msgspec.json.encode({"error": {"message": message, "type": type_, "code": code}})


async def answer(client: Downstream, refusal: Refusal) -> None:
    body = openai_error_body(refusal.message, refusal.type, refusal.code)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if refusal.retry_after is not None:
        headers.append((b"retry-after", str(refusal.retry_after).encode()))
    await client.start(refusal.status, headers)
    await client.write(body, False)


def upstream_refusal(err: UpstreamError, service: str) -> Refusal:
    message = f"The {service} backend {err}."
    if isinstance(err, UpstreamTimeout):
        return Refusal(504, message, "server_error", "backend_timeout")
    return Refusal(502, message, "server_error", "backend_unavailable")


async def read_body(client: Downstream, limit: int) -> bytes:
    """The whole request body (an LLM request: JSON, at most ``limit`` bytes)."""
    chunks: list[bytes] = []
    received = 0
    more = True
    while more:
        chunk, more = await client.body_chunk()
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
