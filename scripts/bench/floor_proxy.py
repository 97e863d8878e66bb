"""``python -m scripts.bench.floor_proxy BACKEND_HOST BACKEND_PORT PORT``: the least a Python
HTTP/1.1 forwarder can do per request, on the same uvloop and httptools as Spark Control.

A calibration column for ``make bench`` (``scripts.bench.proxy``), not a product: no guards,
no header rules, no limits, no errors handled, one upstream connection, requests taken one at a
time. What it adds to a request's latency is the floor for any proxy written in Python on this
machine; what Spark Control adds beyond it is the cost of Spark Control's own code. Only for
the benchmark's sequential (concurrency 1) requests.
"""

from __future__ import annotations

import asyncio
import sys

import httptools
import uvloop


class _Parsed(asyncio.Protocol):
    """A connection whose bytes go to an httptools parser calling back into it."""

    parser: httptools.HttpRequestParser | httptools.HttpResponseParser

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.head: list[bytes] = []
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)


# Hop-by-hop and framing headers: the forwarder frames the answer itself.
DROPPED = (b"connection", b"content-length", b"transfer-encoding", b"keep-alive")


class UpstreamConnection(_Parsed):
    """The one keep-alive connection to the backend; ``answer`` gets the status, the headers
    (lower-case names, without :data:`DROPPED`) and the body."""

    def __init__(self) -> None:
        super().__init__()
        self.parser = httptools.HttpResponseParser(self)
        self.pairs: list[tuple[bytes, bytes]] = []
        self.answer: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]] | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        if (name := name.lower()) not in DROPPED:
            self.pairs.append((name, value))

    def on_message_complete(self) -> None:
        answer, self.answer = self.answer, None
        if answer is not None:
            answer.set_result((self.parser.get_status_code(), self.pairs, b"".join(self.body)))
        self.pairs, self.body = [], []


class _Client(_Parsed):
    """One client connection; forwards each complete request and writes back the answer."""

    upstream: UpstreamConnection | None = None
    backend: tuple[str, int] = ("127.0.0.1", 80)

    def __init__(self) -> None:
        super().__init__()
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head += (name, b": ", value, b"\r\n")

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        request = b"".join([method, b" ", self.url, b" HTTP/1.1\r\n", *self.head, b"\r\n"])
        asyncio.get_running_loop().create_task(self.forward(request + b"".join(self.body)))
        self.head, self.body = [], []

    async def forward(self, request: bytes) -> None:
        loop = asyncio.get_running_loop()
        upstream = _Client.upstream
        if upstream is None or upstream.transport is None or upstream.transport.is_closing():
            _, upstream = await loop.create_connection(UpstreamConnection, *_Client.backend)
            _Client.upstream = upstream
        answer = upstream.answer = loop.create_future()
        assert upstream.transport is not None
        upstream.transport.write(request)
        status, pairs, body = await answer
        assert self.transport is not None
        head = [b"%s: %s\r\n" % pair for pair in pairs]
        length = b"content-length: %d\r\n\r\n" % len(body)
        self.transport.write(b"".join([b"HTTP/1.1 %d \r\n" % status, *head, length, body]))


async def serve(host: str, port: int, listen: int) -> None:
    _Client.backend = (host, port)
    server = await asyncio.get_running_loop().create_server(_Client, "127.0.0.1", listen)
    await server.serve_forever()


if __name__ == "__main__":
    backend_host, backend_port, listen_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    uvloop.run(serve(backend_host, backend_port, listen_port))
