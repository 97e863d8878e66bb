"""``python -m scripts.bench.floor_server BACKEND_HOST BACKEND_PORT PORT``: Spark Control's own
HTTP server (uvicorn with :class:`~app.web.lane.LaneProtocol`) in front of the bare forwarder
of ``floor_proxy``, with none of Spark Control's proxy code in between.

A second calibration column for ``make bench`` (``scripts.bench.proxy``), not a product: no
guards, no admission or drain tracking, no header rules, no metrics, one upstream connection,
c=1 only. Its distance to ``floor_proxy`` is what the server alone costs (uvicorn's protocol
and the lane's request cycle); Spark Control's distance to it is what its proxy code costs.
Every ``/v1`` path is forwarded; anything else gets 404.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvicorn

from app.proxy.downstream import DOWNSTREAM, Downstream
from app.web.lane import LaneProtocol
from scripts.bench.floor_proxy import DROPPED, UpstreamConnection


class Forwarder:
    """The ASGI app: the lane hands it every proxied path (``proxy_chain``)."""

    def __init__(self, backend: tuple[str, int]) -> None:
        self.backend = backend
        self.upstream: UpstreamConnection | None = None
        self.proxy_chain = self.forward

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def forward(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        client: Downstream = scope["extensions"][DOWNSTREAM]
        body, more = await client.body_chunk()
        while more:
            chunk, more = await client.body_chunk()
            body += chunk
        upstream = self.upstream
        if upstream is None or upstream.transport is None or upstream.transport.is_closing():
            loop = asyncio.get_running_loop()
            _, upstream = await loop.create_connection(UpstreamConnection, *self.backend)
            self.upstream = upstream
        head = [b"%s %s HTTP/1.1\r\n" % (scope["method"].encode(), scope["raw_path"])]
        head += [b"%s: %s\r\n" % pair for pair in scope["headers"] if pair[0] not in DROPPED]
        head.append(b"content-length: %d\r\n\r\n" % len(body))
        answer = upstream.answer = asyncio.get_running_loop().create_future()
        assert upstream.transport is not None
        upstream.transport.write(b"".join(head) + body)
        status, headers, payload = await answer
        await client.start(status, headers)
        await client.write(payload, False)


def main() -> None:
    backend_host, backend_port, listen_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    config = uvicorn.Config(
        Forwarder((backend_host, backend_port)),
        host="127.0.0.1",
        port=listen_port,
        http=LaneProtocol,
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
