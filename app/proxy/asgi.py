"""The proxy's raw-ASGI pieces: message types, the OpenAI-shaped refusal, reading a request
body against its limit. No web framework: ``app.proxy.exchange`` and the guards in
``app.web`` answer with these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from app.proxy.policy import Refusal
from app.proxy.upstream import UpstreamError, UpstreamTimeout

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


async def answer(send: Send, refusal: Refusal) -> None:
    body = openai_error_body(refusal.message, refusal.type, refusal.code)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if refusal.retry_after is not None:
        headers.append((b"retry-after", str(refusal.retry_after).encode()))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def upstream_refusal(err: UpstreamError, service: str) -> Refusal:
    message = f"The {service} backend {err}."
    if isinstance(err, UpstreamTimeout):
        return Refusal(504, message, "server_error", "backend_timeout")
    return Refusal(502, message, "server_error", "backend_unavailable")


async def until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body (an LLM request: JSON, at most ``limit`` bytes)."""
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
