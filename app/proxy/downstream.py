"""The client side of a proxied request: :class:`Downstream`, what ``app.proxy.exchange``
needs of the HTTP server it runs in, and :class:`AsgiDownstream`, that interface over plain
ASGI ``receive``/``send`` (any ASGI server).

An HTTP server can offer its own implementation in the request's scope, under
``scope["extensions"][DOWNSTREAM]``; Spark Control's server does (``app.web.lane``): it writes
to the connection directly and learns of a disconnect from the connection itself, where ASGI
can only tell it to a task blocked in ``receive()`` (one task more per request, created and
cancelled on the proxy's hot path).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from app.proxy.asgi import ClientGone, Receive, Scope, Send
from app.proxy.headers import Headers

DOWNSTREAM = "spark_control.downstream"


class Downstream(Protocol):
    """One request's client. Every method may be called only in the order of HTTP: the body
    (``body_chunk`` until it says no more), then ``start``, then ``write`` until ``more`` is
    False."""

    async def body_chunk(self) -> tuple[bytes, bool]:
        """The next request body bytes and whether more follow; raises
        :class:`~app.proxy.asgi.ClientGone` when the client disconnected first."""
        ...

    async def start(self, status: int, headers: Headers) -> None:
        """Send the response head (``headers`` as the proxy forwards them)."""
        ...

    async def write(self, body: bytes, more: bool) -> None:
        """Send body bytes; ``more=False`` ends the response with them."""
        ...

    def watch(self, on_gone: Callable[[], None]) -> None:
        """Call ``on_gone()`` once if the client disconnects from now on (only after the body
        was read: until then ``body_chunk`` reports it)."""
        ...

    def unwatch(self) -> None:
        """Stop watching (idempotent)."""
        ...

    async def gone(self) -> None:
        """Return once the client has disconnected (the body unread: a held request)."""
        ...


class AsgiDownstream:
    """:class:`Downstream` over ASGI's ``receive``/``send``."""

    __slots__ = ("_receive", "_send", "_watcher")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive, self._send = receive, send
        self._watcher: asyncio.Task[None] | None = None

    async def body_chunk(self) -> tuple[bytes, bool]:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        return message.get("body", b""), bool(message.get("more_body"))

    async def start(self, status: int, headers: Headers) -> None:
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, body: bytes, more: bool) -> None:
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    def watch(self, on_gone: Callable[[], None]) -> None:
        async def wait() -> None:
            await self.gone()
            on_gone()

        self._watcher = asyncio.create_task(wait())

    def unwatch(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    async def gone(self) -> None:
        # An ASGI server also reports "disconnect" once the response is complete; the caller
        # decides whether that still counts as the client leaving.
        while (await self._receive())["type"] != "http.disconnect":
            pass


def downstream_of(scope: Scope, receive: Receive, send: Send) -> Downstream:
    """The server's own :class:`Downstream` for this request if it offers one, else ASGI's."""
    extensions = scope.get("extensions")
    if extensions:
        offered: Downstream | None = extensions.get(DOWNSTREAM)
        if offered is not None:
            return offered
    return AsgiDownstream(receive, send)
