"""Spark Control's HTTP protocol: uvicorn's (httptools), with a lean request cycle for the
OpenAI-compatible proxy's paths.

Why: ``make bench`` against a backend with realistic latency (25 ms a request, so every request
finds the process idle and its caches cold) measured Spark Control's added latency at about
0.85 ms, where a bare uvloop + httptools forwarder adds about 0.35 ms. The difference is Python
code on the request's path, slowed 2-4x when cold: uvicorn's per-request cycle, a task per
request that only waits for a disconnect, Litestar's entry point. The proxy needs none of them.

:class:`LaneProtocol` is uvicorn's protocol for every connection; only a request to a path
:func:`~app.web.routes.proxy.is_proxied` accepts (with the app's ``proxy_chain`` set: the
guards, then the proxy) runs on a :class:`LaneCycle` instead of uvicorn's cycle. The cycle is
the same ASGI contract for the guards (``receive``, ``send``) and offers the proxy its
:class:`~app.proxy.downstream.Downstream` in ``scope["extensions"]``: body chunks from the
parser, the response written straight to the connection, a disconnect reported by the
connection itself. Everything else stays uvicorn's: keep-alive and its timeout, pipelining (a
request behind another on the same connection goes the ordinary way), flow control, graceful
shutdown, the 400 for a malformed request, the access log line (written here once the
request is over, not before its head).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import httptools
from litestar.types import ASGIApp
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from app.proxy.asgi import ClientGone, Message
from app.proxy.downstream import DOWNSTREAM
from app.proxy.headers import Headers
from app.web.routes.proxy import is_proxied

log = logging.getLogger("uvicorn.error")

_500 = b"Internal Server Error"


class LaneProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, handing proxied requests to a :class:`LaneCycle`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._chain: ASGIApp | None = getattr(self.app, "proxy_chain", None)

    def on_headers_complete(self) -> None:
        chain = self._chain
        current = cast("LaneCycle | None", self.cycle)
        if (
            chain is None
            or self.limit_concurrency is not None
            or self.root_path
            or (current is not None and not current.response_complete)  # pipelined
            or self.parser.should_upgrade()
        ):
            super().on_headers_complete()
            return
        parsed = httptools.parse_url(self.url)
        raw_path = parsed.path
        if b"%" in raw_path or not is_proxied(path := raw_path.decode("ascii")):
            super().on_headers_complete()
            return
        parser = self.parser
        scope = self.scope
        http_version = parser.get_http_version()
        if http_version != "1.1":
            scope["http_version"] = http_version
        scope["method"] = parser.get_method().decode("ascii")
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = parsed.query or b""
        scope["app"] = scope["litestar_app"] = self.app  # type: ignore[typeddict-unknown-key]
        cycle = LaneCycle(self, http_version != "1.0" and parser.should_keep_alive())
        scope["extensions"] = {DOWNSTREAM: cycle}  # type: ignore[dict-item]
        self.cycle = cycle  # type: ignore[assignment]
        task = self.loop.create_task(cycle.run(chain))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)


class _Signal:
    """What uvicorn's protocol calls ``message_event``: it ``set()``s it when body bytes
    arrive, the body ends, or the connection is lost."""

    __slots__ = ("_cycle",)

    def __init__(self, cycle: LaneCycle) -> None:
        self._cycle = cycle

    def set(self) -> None:
        self._cycle.signalled()


class LaneCycle:
    """One request on a :class:`LaneProtocol` connection: ASGI's ``receive``/``send`` and
    :class:`~app.proxy.downstream.Downstream`. The attributes uvicorn's protocol reads and
    writes on its current cycle keep uvicorn's names and meaning."""

    __slots__ = (
        "_chunked",
        "_flow",
        "_left",
        "_on_gone",
        "_protocol",
        "_remaining",
        "_status",
        "_waiter",
        "body",
        "disconnected",
        "keep_alive",
        "message_event",
        "more_body",
        "response_complete",
        "response_started",
        "scope",
        "transport",
        "waiting_for_100_continue",
    )

    def __init__(self, protocol: LaneProtocol, keep_alive: bool) -> None:
        self._protocol = protocol
        self.scope = protocol.scope
        self.transport = protocol.transport
        self._flow: FlowControl = protocol.flow
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = protocol.expect_100_continue
        self.message_event = _Signal(self)
        self.body = bytearray()
        self.more_body = True
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self._chunked = False
        self._remaining = 0  # body bytes a Content-Length still owes
        self._status: int | None = None  # the response's, once started (for the access line)
        self._waiter: asyncio.Future[None] | None = None  # a body_chunk() waiting
        self._left: asyncio.Future[None] | None = None  # a gone() waiting
        self._on_gone: Callable[[], None] | None = None

    # --- what the protocol tells us ---------------------------------------------------------

    def signalled(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.disconnected:
            if self._left is not None and not self._left.done():
                self._left.set_result(None)
            on_gone, self._on_gone = self._on_gone, None
            if on_gone is not None:
                on_gone()

    # --- running the request ----------------------------------------------------------------

    async def run(self, app: ASGIApp) -> None:
        """Run ``app`` on this request; an app that fails or leaves the response unfinished
        gets a 500 (nothing sent yet) or a closed connection (the client sees a cut)."""
        try:
            await app(self.scope, self.receive, self.send)  # type: ignore[arg-type]
        except asyncio.CancelledError:  # the server's shutdown gave up waiting
            self._unfinished(send_500=False)
            raise
        except Exception:
            log.exception("Exception in ASGI application")
            self._unfinished(send_500=True)
        else:
            if not self.response_complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                self._unfinished(send_500=not self.response_started)
        finally:
            self._log_access()

    def _log_access(self) -> None:
        """The access line, written once the request is over: formatting it and writing it to
        stderr is a few dozen microseconds that must not delay the response's bytes (uvicorn's
        own cycle writes it before sending the response's head)."""
        protocol = self._protocol
        if self._status is not None and protocol.access_log:
            scope = self.scope
            protocol.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(scope),
                scope["method"],
                get_path_with_query_string(scope),
                scope["http_version"],
                self._status,
            )

    def _unfinished(self, *, send_500: bool) -> None:
        if send_500 and not self.response_started and not self.disconnected:
            self.keep_alive = False
            headers = [(b"content-type", b"text/plain; charset=utf-8")]
            headers.append((b"content-length", b"%d" % len(_500)))
            self._start(500, headers)
            self._write(_500, False)
        elif not self.response_complete:
            self.transport.close()

    # --- Downstream ---------------------------------------------------------------------------

    async def body_chunk(self) -> tuple[bytes, bool]:
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.waiting_for_100_continue = False
        while not self.body and self.more_body and not self.disconnected:
            self._flow.resume_reading()
            self._waiter = self._protocol.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.disconnected:
            raise ClientGone
        chunk = bytes(self.body)
        self.body.clear()
        self._flow.resume_reading()
        return chunk, self.more_body

    async def start(self, status: int, headers: Headers) -> None:
        self._start(status, headers)

    async def write(self, body: bytes, more: bool) -> None:
        if self._flow.write_paused and not self.disconnected:
            await self._flow.drain()
        self._write(body, more)

    def watch(self, on_gone: Callable[[], None]) -> None:
        if self.disconnected:
            on_gone()
        else:
            self._on_gone = on_gone

    def unwatch(self) -> None:
        self._on_gone = None

    async def gone(self) -> None:
        if not self.disconnected:
            self._left = self._protocol.loop.create_future()
            await self._left

    # --- ASGI, for the guards in front of the proxy --------------------------------------------

    async def receive(self) -> Message:
        if self.response_complete:
            return {"type": "http.disconnect"}
        try:
            body, more = await self.body_chunk()
        except ClientGone:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": body, "more_body": more}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self.start(message["status"], list(message.get("headers", ())))
        elif message["type"] == "http.response.body":
            await self.write(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"Unexpected ASGI message {message['type']!r}.")

    # --- the wire -----------------------------------------------------------------------------

    def _start(self, status: int, headers: Headers) -> None:
        if self.response_started:
            raise RuntimeError("The response has already started.")
        self.response_started = True
        self._status = status
        protocol = self._protocol
        if self.disconnected:
            return
        head = [STATUS_LINE[status]]
        length: int | None = None
        headers = protocol.server_state.default_headers + headers
        # One search over all names and one over all values (a character that is wrong in one
        # is wrong in their concatenation), not two per header.
        if HEADER_RE.search(b"".join(name for name, _ in headers)) or HEADER_VALUE_RE.search(
            b"".join(value for _, value in headers)
        ):
            raise RuntimeError("Invalid HTTP header.")
        for name, value in headers:
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and b"close" in value.lower():
                self.keep_alive = False
                continue  # added below, once
            elif name == b"transfer-encoding":
                continue  # the framing is ours to choose
            head += (name, b": ", value, b"\r\n")
        if not self.keep_alive:
            head.append(b"connection: close\r\n")
        if self.scope["method"] == "HEAD" or status in (204, 304):
            self._remaining = 0
        elif length is not None:
            self._remaining = length
        else:
            self._chunked = True
            head.append(b"transfer-encoding: chunked\r\n")
        head.append(b"\r\n")
        self.transport.write(b"".join(head))

    def _write(self, body: bytes, more: bool) -> None:
        if not self.response_started or self.response_complete:
            raise RuntimeError("Body bytes outside a response.")
        if not self.disconnected and body and self.scope["method"] != "HEAD":
            if self._chunked:
                self.transport.write(b"%x\r\n%b\r\n" % (len(body), body))
            elif len(body) > self._remaining:
                raise RuntimeError("Response content longer than Content-Length.")
            else:
                self._remaining -= len(body)
                self.transport.write(body)
        if more:
            return
        if self._chunked and not self.disconnected:
            self.transport.write(b"0\r\n\r\n")
        self.response_complete = True
        if self._remaining and not self.disconnected:
            self.keep_alive = False  # the client would wait for bytes that never come
            log.error("Response content shorter than Content-Length.")
        self._on_gone = None
        if not self.keep_alive:
            self.transport.close()
        self._protocol.on_response_complete()
