"""Spark Control's HTTP protocol (``app.web.lane``) on a real socket: the proxied paths take the
lean cycle, and on it HTTP still behaves as uvicorn's own cycle does: keep-alive and
pipelining, ``Expect: 100-continue``, a large upload under flow control, chunked and HEAD
framing, a 500 or a closed connection for an app that fails, a disconnect reported at once,
the access log line (redacted, written once the request is over)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.config import parse_config
from app.proxy.asgi import read_body
from app.proxy.downstream import DOWNSTREAM, Downstream, downstream_of
from app.runtime import Runtime
from app.web import create_app
from app.web.routes.proxy import is_proxied
from tests.http_fakes import lifespan
from tests.servers import serve

Chain = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class LaneApp:
    """An ASGI app shaped like Spark Control's: its ``proxy_chain`` serves the proxied paths
    (also when uvicorn's own cycle calls the app), anything else answers ``other``."""

    def __init__(self, chain: Chain) -> None:
        self.proxy_chain = chain
        self.others = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if is_proxied(scope["path"]):
            await self.proxy_chain(scope, receive, send)
            return
        self.others += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"other"})


def client_of(scope: dict[str, Any], receive: Any, send: Any) -> Downstream:
    return downstream_of(scope, receive, send)


async def reply(client: Downstream, body: bytes, status: int = 200) -> None:
    await client.start(status, [(b"content-length", b"%d" % len(body))])
    await client.write(body, False)


@contextlib.asynccontextmanager
async def connection(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def response(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One HTTP/1.1 response: status line, headers, body (by length or chunked)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status, *lines = head[:-4].split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines)
    if b"content-length" in headers:
        return status, headers, await reader.readexactly(int(headers[b"content-length"]))
    body = b""
    while size := int((await reader.readline()).strip(), 16):
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readexactly(2)
    return status, headers, body


def get(path: str, extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nhost: t\r\n" + extra + b"\r\n"


async def test_proxied_paths_take_the_lane_others_do_not_and_keep_alive_holds() -> None:
    seen: list[bool] = []

    async def chain(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(DOWNSTREAM in scope.get("extensions", {}))
        await reply(
            client_of(scope, receive, send), scope["path"].encode() + b"?" + scope["query_string"]
        )

    app = LaneApp(chain)
    async with serve(app) as url, connection(url) as (reader, writer):
        # Three requests in one write: the second arrives while the first is being answered.
        writer.write(get("/v1/models?a=1") + get("/v1/models/") + get("/api/status"))
        answers = [await response(reader) for _ in range(3)]
        writer.write(get("/v1/models?b=2"))
        answers.append(await response(reader))
    assert [a[2] for a in answers] == [
        b"/v1/models?a=1",
        b"/v1/models/?",
        b"other",
        b"/v1/models?b=2",
    ]
    assert all(a[0] == b"HTTP/1.1 200 OK" for a in answers)
    assert app.others == 1
    # The second request arrived while the first was in flight: uvicorn queued it and ran it
    # its own way, in order, on the same connection.
    assert seen == [True, False, True]


async def test_expect_100_continue_and_a_large_upload_under_flow_control() -> None:
    async def chain(scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = client_of(scope, receive, send)
        body = await read_body(client, 8 * 1024 * 1024)
        await reply(client, b"%d %d" % (len(body), body.count(b"x")))

    async with serve(LaneApp(chain)) as url, connection(url) as (reader, writer):
        writer.write(
            b"POST /v1/embeddings HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n"
            b"expect: 100-continue\r\n\r\n"
        )
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == (
            b"HTTP/1.1 100 Continue\r\n\r\n"
        )
        writer.write(b"xxxxx")
        assert (await response(reader))[2] == b"5 5"
        # 3 MiB, chunked, written in pieces: the protocol pauses reading past 64 KiB and the
        # lane must resume it as the app consumes the body.
        writer.write(
            b"POST /v1/embeddings HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        piece = b"x" * 65536
        for _ in range(48):
            writer.write(b"%x\r\n%b\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        assert (await response(reader))[2] == b"%d %d" % (48 * 65536, 48 * 65536)


async def test_chunked_streams_head_requests_and_connection_close() -> None:
    async def chain(scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = client_of(scope, receive, send)
        if scope["method"] == "HEAD":
            await reply(client, b"not sent")
            return
        await client.start(200, [(b"content-type", b"text/event-stream")])
        for n in range(3):
            await client.write(b"data: %d\n\n" % n, True)
        await client.write(b"", False)

    async with serve(LaneApp(chain)) as url, connection(url) as (reader, writer):
        writer.write(get("/v1/chat/completions"))
        _status, headers, body = await response(reader)
        assert headers[b"transfer-encoding"] == b"chunked"
        assert body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
        writer.write(b"HEAD /v1/models HTTP/1.1\r\nhost: t\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"content-length: 8" in head
        writer.write(get("/v1/models", b"connection: close\r\n"))
        _status, headers, body = await response(reader)
        assert headers[b"connection"] == b"close" and body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the HEAD sent no body either


async def test_a_stream_head_goes_out_before_its_first_token() -> None:
    head_read = asyncio.Event()

    async def chain(scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = client_of(scope, receive, send)
        await client.start(200, [(b"content-type", b"text/event-stream")])
        await head_read.wait()  # the first token comes only once the client has the head
        await client.write(b"data: 1\n\n", False)

    async with serve(LaneApp(chain)) as url, connection(url) as (reader, writer):
        writer.write(get("/v1/chat/completions"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head
        head_read.set()
        assert await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5) == (
            b"9\r\ndata: 1\n\n\r\n0\r\n\r\n"
        )


@pytest.mark.parametrize("fault", ["raises", "no response", "half a response", "head only"])
async def test_an_app_that_fails_gets_a_500_or_a_closed_connection(
    fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def chain(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if fault == "raises":
            raise RuntimeError("boom")
        if fault in ("half a response", "head only"):
            await client_of(scope, receive, send).start(200, [(b"content-length", b"10")])
        if fault == "half a response":
            await client_of(scope, receive, send).write(b"12345", True)

    async with serve(LaneApp(chain)) as url, connection(url) as (reader, writer):
        writer.write(get("/v1/models"))
        if fault in ("half a response", "head only"):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            rest = b"12345" if fault == "half a response" else b""
            assert await asyncio.wait_for(reader.read(), 5) == rest  # then the close
        else:
            status, headers, body = await response(reader)
            assert (status, body) == (
                b"HTTP/1.1 500 Internal Server Error",
                b"Internal Server Error",
            )
            assert headers[b"connection"] == b"close"
    expected = "Exception in ASGI application" if fault == "raises" else "without completing"
    assert any(expected in record.getMessage() for record in caplog.records)


async def test_a_disconnect_is_reported_at_once() -> None:
    watched = asyncio.Event()
    left: list[str] = []
    both = asyncio.Event()

    async def chain(scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = client_of(scope, receive, send)
        await client.body_chunk()
        client.watch(lambda: left.append("watch"))
        watched.set()
        await client.gone()
        left.append("gone")
        both.set()

    async with serve(LaneApp(chain)) as url:
        async with connection(url) as (_reader, writer):
            writer.write(get("/v1/chat/completions"))
            await asyncio.wait_for(watched.wait(), 5)
        await asyncio.wait_for(both.wait(), 5)
    assert left == ["watch", "gone"]


async def test_the_real_app_on_the_lane_logs_its_access_line_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="httpx")  # the test client's own URL line
    caplog.set_level(logging.INFO)
    app = create_app(Runtime(parse_config({}, {})))
    async with serve(app, access_log=True) as url, httpx.AsyncClient(base_url=url) as client:
        logging.getLogger("uvicorn.access").propagate = True
        r = await client.post("/v1/chat/completions?token=s3cret", json={"model": "x"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "backend_not_configured"
    lines = [m for m in caplog.messages if "/v1/chat/completions" in m]
    assert lines and "token=***" in lines[0] and "502" in lines[0]
    assert "s3cret" not in caplog.text


async def test_the_access_line_is_written_when_the_request_ends_not_before_its_head(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Writing the line costs the response's latency when it goes first (uvicorn's own cycle
    logs before the head): on the lane it comes after the last byte, still one per request."""
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    head_sent = asyncio.Event()
    finish = asyncio.Event()

    async def chain(scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = client_of(scope, receive, send)
        await client.start(200, [(b"content-type", b"text/event-stream")])
        head_sent.set()
        await finish.wait()
        await client.write(b"data: [DONE]\n\n", False)

    def access_lines() -> list[str]:
        return [m for m in caplog.messages if "/v1/chat/completions" in m]

    async with serve(LaneApp(chain), access_log=True) as url:
        logging.getLogger("uvicorn.access").propagate = True
        async with connection(url) as (reader, writer):
            writer.write(get("/v1/chat/completions"))
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            await asyncio.wait_for(head_sent.wait(), 5)
            assert access_lines() == []
            finish.set()
            assert await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
    assert (
        len(access_lines()) == 1 and '"GET /v1/chat/completions HTTP/1.1" 200' in access_lines()[0]
    )
