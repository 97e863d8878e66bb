"""The proxy's lean HTTP/1.1 upstream client against real servers on 127.0.0.1: keep-alive
reuse, a server closing an idle connection, uploads, HEAD, bodies ended by closing, backends
that are down, and a slow consumer (flow control)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvloop

from app.proxy.h1 import H1Upstream
from app.proxy.upstream import UpstreamBroken, UpstreamTimeouts, UpstreamUnavailable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server running ``handler`` per connection; yields its URL and a one-item list
    counting the connections it accepted."""
    accepted = [0]

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    if b"content-length: " in lower:
        length = int(lower.split(b"content-length: ")[1].split(b"\r\n")[0])
        return head, await reader.readexactly(length)
    body = b""
    if b"transfer-encoding: chunked" in lower:
        while size := int((await reader.readline()).strip(), 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readexactly(2)
    return head, body


def answer(body: bytes, *extra: bytes) -> bytes:
    headers = b"".join(h + b"\r\n" for h in extra)
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%b\r\n%b" % (len(body), headers, body)


async def read_all(upstream: H1Upstream, method: str, url: str, body: object = b"") -> bytes:
    response = await upstream.open(method, url, [(b"x-test", b"1")], body)  # type: ignore[arg-type]
    try:
        return b"".join([chunk async for chunk in response.chunks()])
    finally:
        await response.aclose()


@pytest.fixture
async def upstream() -> AsyncIterator[H1Upstream]:
    client = H1Upstream(timeouts=UpstreamTimeouts(connect_s=2, read_s=2))
    yield client
    await client.aclose()


async def test_keep_alive_reuses_one_connection_and_sends_head_and_body(
    upstream: H1Upstream,
) -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            seen.append((head, body))
            writer.write(answer(b"echo:" + body))

    async with raw_server(echo) as (url, accepted):
        for n in range(3):
            assert await read_all(upstream, "POST", f"{url}/v1/x?q={n}", b"{}") == b"echo:{}"
        assert accepted[0] == 1
    head = seen[2][0]
    assert head.startswith(b"POST /v1/x?q=2 HTTP/1.1\r\n")
    assert f"host: {url[7:]}".encode() in head and b"x-test: 1" in head
    assert b"content-length: 2" in head


async def test_an_idle_connection_the_server_closed_is_replaced(upstream: H1Upstream) -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"ok"))
        await writer.drain()
        # Then wait for the next request and close without answering, as a server whose
        # keep-alive timeout fired just as the request arrived.
        await reader.read(1)

    async with raw_server(one_then_close) as (url, accepted):
        assert await read_all(upstream, "POST", f"{url}/a", b"1") == b"ok"
        assert await read_all(upstream, "POST", f"{url}/a", b"2") == b"ok"
        assert accepted[0] == 2


async def test_streamed_upload_goes_chunked_and_head_has_no_body(upstream: H1Upstream) -> None:
    bodies: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, body = await read_request(reader)
        bodies.append(body)
        if head.startswith(b"HEAD"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n")
        else:
            writer.write(answer(b"%d" % len(body)))
        await writer.drain()
        await reader.read(1)

    async def parts() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 65536

    async with raw_server(handler) as (url, _):
        assert await read_all(upstream, "POST", f"{url}/up", parts()) == b"4194304"
        assert await read_all(upstream, "HEAD", f"{url}/up", None) == b""
    assert bodies == [b"x" * 4194304, b""]


async def test_body_ended_by_closing_the_connection(upstream: H1Upstream) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\npart one, ")
        await writer.drain()
        writer.write(b"part two")

    async with raw_server(handler) as (url, _):
        assert await read_all(upstream, "GET", f"{url}/old", None) == b"part one, part two"


async def test_backend_down_and_dropping_mid_answer(upstream: H1Upstream) -> None:
    async with raw_server(read_request) as (url, _):  # type: ignore[arg-type]
        pass  # the port is free again
    with pytest.raises(UpstreamUnavailable, match="is not reachable"):
        await upstream.open("GET", f"{url}/v1/models", [], None)

    async def drops(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a part")
        await writer.drain()

    async with raw_server(drops) as (url, _):
        with pytest.raises(UpstreamBroken, match="dropped the connection"):
            await read_all(upstream, "GET", f"{url}/x", None)

    async def closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with raw_server(closes) as (url, _):
        with pytest.raises(UpstreamUnavailable, match="closed the connection"):
            await upstream.open("GET", f"{url}/x", [], None)


async def test_a_slow_consumer_pauses_reading_and_gets_every_byte(upstream: H1Upstream) -> None:
    big = bytes(range(256)) * 16384  # 4 MiB

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(big))
        await writer.drain()
        await reader.read(1)

    async with raw_server(handler) as (url, _):
        response = await upstream.open("GET", f"{url}/big", [], None)
        received = bytearray()
        async for chunk in response.chunks():
            assert len(chunk) <= 2 * 1024 * 1024  # bounded: reading paused meanwhile
            received += chunk
            await asyncio.sleep(0)  # a consumer that yields between chunks
        await response.aclose()
    assert bytes(received) == big


async def test_complete_says_the_chunk_just_read_was_the_last(upstream: H1Upstream) -> None:
    """What lets the proxy end its response with the last bytes (one write, not two): true
    right after the whole body was read, false while a stream is still open."""
    more = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        if b"/whole" in head:
            writer.write(answer(b"all of it"))
            return
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n")
        await more.wait()
        writer.write(b"1\r\nb\r\n0\r\n\r\n")
        await writer.drain()

    async with raw_server(serve) as (url, _):
        whole = await upstream.open("GET", f"{url}/whole", [], None)
        try:
            chunks = whole.chunks()
            assert await anext(chunks) == b"all of it"
            assert whole.complete
        finally:
            await whole.aclose()
        stream = await upstream.open("GET", f"{url}/stream", [], None)
        try:
            chunks = stream.chunks()
            assert await anext(chunks) == b"a"
            assert not stream.complete
            more.set()
            assert b"".join([c async for c in chunks]) == b"b"
            assert stream.complete
        finally:
            await stream.aclose()


def test_works_on_uvloop_the_loop_the_server_runs() -> None:
    """``python -m app`` runs on uvloop, whose transports are not asyncio.Transport subclasses."""

    async def exchange() -> bytes:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            _, body = await read_request(reader)
            writer.write(answer(b"echo:" + body))
            await writer.drain()

        client = H1Upstream(timeouts=UpstreamTimeouts(connect_s=2, read_s=2))
        try:
            async with raw_server(echo) as (url, _):
                return await read_all(client, "POST", f"{url}/v1/x", b"{}")
        finally:
            await client.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(exchange()) == b"echo:{}"
