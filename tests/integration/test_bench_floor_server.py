"""The bench's ``floor (server)`` column forwards like a proxy, so its figure is a real one:
Spark Control's server in front of a bare forwarder, on real sockets."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from scripts.bench.floor_server import Forwarder
from tests.servers import serve


async def _backend(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    answer = b"%s %s %s" % (scope["method"].encode(), scope["raw_path"], body)
    headers = [(b"content-type", b"text/plain"), (b"x-backend", b"fake")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


async def test_floor_server_forwards_proxied_paths_and_refuses_the_rest() -> None:
    async with serve(_backend) as backend:
        parts = urlsplit(backend)
        forwarder = Forwarder((parts.hostname or "127.0.0.1", parts.port or 80))
        async with serve(forwarder) as front, httpx.AsyncClient(base_url=front) as client:
            for prompt in (b"one", b"two"):  # the second reuses the upstream connection
                r = await client.post("/v1/completions", content=prompt)
                assert r.status_code == 201
                assert r.content == b"POST /v1/completions " + prompt
                assert r.headers["x-backend"] == "fake"
            assert (await client.get("/api/health")).status_code == 404
