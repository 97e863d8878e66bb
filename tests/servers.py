"""Real servers for tests: uvicorn on 127.0.0.1 port 0, in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import uvicorn
from litestar import Litestar

from app.web.lane import LaneProtocol
from scripts.sparksim.prompt_server import PromptServer


@contextlib.asynccontextmanager
async def serve(
    asgi_app: Any, *, timeout: float = 10.0, access_log: bool = False, port: int = 0
) -> AsyncIterator[str]:
    """Serve ``asgi_app`` on loopback (a free port unless ``port`` is given, e.g. to restart a
    server where a page expects it); yields its base URL, stops it on exit."""
    config = uvicorn.Config(
        asgi_app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=2,
        access_log=access_log,
        # As `python -m app` runs it: the app alone decides whose X-Forwarded-* count, and the
        # client address it sees is the TCP peer's (uvicorn would otherwise rewrite it from
        # X-Forwarded-For sent from loopback).
        proxy_headers=False,
        http=LaneProtocol,  # as `python -m app` serves: the proxy's paths take the lane
    )
    server = PromptServer(config)
    # uvicorn installs signal handlers only in its own `run`; serve() in a task leaves ours alone.
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(timeout):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("server exited before it started")
                await asyncio.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.exit()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout)


class AppClient(httpx.AsyncClient):
    """An HTTP client for one served app, which it keeps as ``app`` (tests reach the runtime
    through ``client.app.state.runtime``)."""

    app: Litestar


SparkApp = Callable[..., AbstractAsyncContextManager[AppClient]]
