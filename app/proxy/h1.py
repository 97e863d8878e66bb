"""A lean HTTP/1.1 client for the proxy's upstream: :class:`H1Upstream` implements
:class:`~app.proxy.upstream.Upstream` on asyncio protocols and httptools' C parser.

Why not aiohttp here: profiling the proxy (``make bench`` with ``BENCH_PROFILE``) put a third
of Spark Control's CPU per proxied request in aiohttp's client (request objects, header
multidicts, timers re-armed on every read), for a job that is one write and one parse: the
backends are a few trusted HTTP/1.1 servers on the LAN. This client keeps only that:

* one keep-alive pool per ``host:port`` (idle connections reused most-recent first; one a
  server closed leaves the pool when it closes); a request on a reused connection that the
  server closed before any answer byte is sent again once on a new connection (the race every
  keep-alive client has), unless its body was a stream already consumed;
* the request head and a ``bytes`` body leave in one write; a streamed body goes out chunked
  (or as is, when the caller gave ``Content-Length``), paced by the transport's flow control,
  from a task of its own so an early answer (413) is read while the upload runs;
* the response body is handed over as it arrives; reading pauses while more than
  ``BUFFER_LIMIT`` bytes wait for the consumer;
* timeouts and errors as :mod:`app.proxy.upstream` specifies (the same exception classes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools

from app.proxy.upstream import (
    Body,
    Headers,
    UpstreamBroken,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamTimeouts,
    UpstreamUnavailable,
)

BUFFER_LIMIT = 256 * 1024
_SAFE_TO_RETRY = (UpstreamUnavailable,)


class _Closed(Exception):
    """The connection closed before the response head arrived."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; serves one exchange at a time."""

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[None] | None = None
        self._headers: Headers = []
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._reading_paused = False
        self._data: asyncio.Future[None] | None = None  # a consumer waits for body bytes
        self.complete = False  # the current response's body has fully arrived
        self.keep_alive = False
        self.received_any = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._error: Exception | None = None

    # --- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport; not an isinstance check: uvloop's transports do not subclass
        # asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(UpstreamBroken("sent an answer that is not valid HTTP"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.forget(self)
        head_pending = self._head is not None and not self._head.done()
        if not self.complete and not head_pending and self._until_close():
            self.complete = True  # a body without length or chunking ends with the connection
            self._wake()
        elif not self.complete:
            self._fail(_Closed() if head_pending else None)
        self._writable.set()

    def _until_close(self) -> bool:
        return not any(
            name in (b"content-length", b"transfer-encoding") for name, _ in self._headers
        ) and self._parser.get_status_code() not in (204, 304)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- httptools callbacks ---------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > BUFFER_LIMIT and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # --- the exchange ----------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._data
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: Exception | None) -> None:
        self._error = error or UpstreamBroken("dropped the connection mid-answer")
        for waiter in (self._head, self._data):
            if waiter is not None and not waiter.done():
                waiter.set_exception(self._error)

    def reset(self) -> None:
        # The parser carries on across keep-alive answers (llhttp starts the next message after
        # the last one completes); a connection whose answer went wrong is closed, not reused.
        self._headers = []
        self._body.clear()
        self._buffered = 0
        self.complete = False
        self.received_any = False
        self._error = None
        self._head = self._loop.create_future()

    async def head(self, timeout: float) -> tuple[int, Headers]:
        head = self._head
        if head is None:  # reset() was not called: no request was sent
            raise UpstreamUnavailable("was not asked anything")
        if not head.done():
            # A bare timer rather than asyncio.timeout(): this runs on every proxied request.
            timer = self._loop.call_later(
                timeout, _expire, head, UpstreamTimeout, "did not answer in time"
            )
            try:
                await head
            finally:
                timer.cancel()
        else:
            head.result()  # raises what the connection failed with
        return self._parser.get_status_code(), self._headers

    async def next_chunk(self, timeout: float) -> bytes | None:
        """The next body bytes, or None at the end of the body."""
        while not self._body:
            if self.complete:
                return None
            if self._error is not None:
                raise self._error
            data = self._data = self._loop.create_future()
            timer = self._loop.call_later(
                timeout, _expire, data, UpstreamBroken, "stopped sending its answer"
            )
            try:
                await data
            except _Closed:
                raise UpstreamBroken("dropped the connection mid-answer") from None
            finally:
                timer.cancel()
                self._data = None
        chunk = b"".join(self._body) if len(self._body) > 1 else self._body[0]
        self._body.clear()
        self._buffered = 0
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return chunk

    @property
    def buffered(self) -> bool:
        """Body bytes arrived that ``next_chunk`` has not handed over yet."""
        return bool(self._body)

    async def writable(self) -> None:
        await self._writable.wait()
        if self.closed:
            raise UpstreamUnavailable("closed the connection while receiving the request")

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        self.closed = True
        self._pool.forget(self)
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None], error: type[Exception], message: str) -> None:
    if not waiter.done():
        waiter.set_exception(error(message))


class _Pool:
    """Idle connections to one ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[_Connection] = []

    def forget(self, conn: _Connection) -> None:
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)

    async def connect(self, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self), self.host, self.port
                )
        except TimeoutError:
            raise UpstreamUnavailable("did not accept a connection in time") from None
        except OSError:
            raise UpstreamUnavailable("is not reachable") from None
        return conn


class _Response:
    """:class:`~app.proxy.upstream.UpstreamResponse` of one exchange on a pooled connection."""

    __slots__ = ("_conn", "_pool", "_read_s", "_sender", "_settled", "headers", "status")

    def __init__(
        self,
        conn: _Connection,
        pool: _Pool,
        status: int,
        headers: Headers,
        read_s: float,
        sender: asyncio.Task[None] | None,
    ) -> None:
        self._conn, self._pool, self._read_s, self._sender = conn, pool, read_s, sender
        self.status, self.headers = status, headers
        self._settled = False

    async def chunks(self) -> AsyncIterator[bytes]:
        conn, read_s = self._conn, self._read_s
        while True:
            chunk = await conn.next_chunk(read_s)
            if chunk is None:
                return
            yield chunk

    @property
    def complete(self) -> bool:
        return self._conn.complete and not self._conn.buffered

    async def aclose(self) -> None:
        if self._settled:
            return
        self._settled = True
        conn, sender = self._conn, self._sender
        reusable = conn.complete and conn.keep_alive and not conn.closed
        if sender is not None and not sender.done():
            sender.cancel()  # the server answered before taking the whole upload
            reusable = False
        if reusable:
            self._pool.idle.append(conn)
        else:
            conn.close()


class H1Upstream:
    """See the module docstring. ``max_idle`` bounds the idle connections kept per backend."""

    def __init__(self, *, timeouts: UpstreamTimeouts | None = None, max_idle: int = 64) -> None:
        self.timeouts = timeouts or UpstreamTimeouts()
        self._max_idle = max_idle
        self._pools: dict[str, _Pool] = {}
        self._targets: dict[str, tuple[_Pool, bytes]] = {}

    def _target(self, url: str) -> tuple[_Pool, bytes]:
        """The pool and ``Host`` header of a base URL (cached: a handful of backends)."""
        found = self._targets.get(url)
        if found is None:
            parts = urlsplit(url)
            host = parts.hostname or "127.0.0.1"
            port = parts.port or 80
            pool = self._pools.get(f"{host}:{port}")
            if pool is None:
                pool = self._pools[f"{host}:{port}"] = _Pool(host, port)
            found = (pool, parts.netloc.encode("latin-1"))
            if len(self._targets) < 1024:
                self._targets[url] = found
        return found

    async def open(self, method: str, url: str, headers: Headers, body: Body) -> UpstreamResponse:
        scheme_end = url.index("://") + 3
        path_start = url.find("/", scheme_end)
        base = url if path_start < 0 else url[:path_start]
        target = b"/" if path_start < 0 else url[path_start:].encode("latin-1")
        pool, host = self._target(base)
        head = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
        has_length = False
        for name, value in headers:
            head += (name, b": ", value, b"\r\n")
            has_length = has_length or name == b"content-length"
        streamed = body is not None and not isinstance(body, bytes)
        if isinstance(body, bytes) and (body or method not in ("GET", "HEAD")):
            head += (b"content-length: ", str(len(body)).encode(), b"\r\n")
        elif streamed and not has_length:
            head.append(b"transfer-encoding: chunked\r\n")
        head.append(b"\r\n")
        request = b"".join(head) + body if isinstance(body, bytes) else b"".join(head)
        while True:
            reused = bool(pool.idle)
            conn = pool.idle.pop() if reused else await pool.connect(self.timeouts.connect_s)
            try:
                return await self._exchange(conn, pool, method, request, body, streamed, has_length)
            except _Closed:
                conn.close()
                if reused and not streamed:
                    continue  # the server closed an idle connection as we used it: once more
                raise UpstreamUnavailable("closed the connection before answering") from None
            except BaseException:
                conn.close()  # cancelled, timed out or failed: the backend must stop
                raise

    async def _exchange(
        self,
        conn: _Connection,
        pool: _Pool,
        method: str,
        request: bytes,
        body: Body,
        streamed: bool,
        has_length: bool,
    ) -> UpstreamResponse:
        conn.reset()
        conn.write(request)
        sender = None
        if streamed and body is not None and not isinstance(body, bytes):
            sender = asyncio.get_running_loop().create_task(
                _send_body(conn, body, chunked=not has_length)
            )
        try:
            status, headers = await conn.head(self.timeouts.read_s)
        except BaseException:
            if sender is not None:
                sender.cancel()
            raise
        if method == "HEAD":
            conn.complete = True  # no body follows; the parser does not know it was a HEAD
            conn.keep_alive = False
        if len(pool.idle) > self._max_idle:
            pool.idle.pop(0).close()
        return _Response(conn, pool, status, headers, self.timeouts.read_s, sender)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            for conn in list(pool.idle):
                conn.close()


async def _send_body(conn: _Connection, body: AsyncIterable[bytes], *, chunked: bool) -> None:
    """Write a streamed request body, paced by the connection's flow control. An error of the
    body iterator (the proxy's own "too large" / "client gone") closes the connection, so the
    exchange fails; the proxy keeps its own note of why."""
    try:
        async for chunk in body:
            if not chunk:
                continue
            await conn.writable()
            conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked and not conn.closed:
            conn.write(b"0\r\n\r\n")
    except asyncio.CancelledError:
        raise
    except Exception:
        conn.close()
