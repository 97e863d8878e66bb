"""The fake vLLM's socket: bound at start, listened on only when the start completes.

Real vLLM reserves its port early (a taken port fails at once) but accepts connections only
once its API server runs, so a client sees "connection refused" while it loads, never a 503.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any


class Serving:
    def __init__(self, server: Any, task: asyncio.Task[None]) -> None:
        self.server, self.task = server, task

    async def wait(self) -> None:
        await self.task


async def listen(app: Any, sock: socket.socket) -> Serving:
    """Start serving on the bound socket (uvicorn calls listen()); returns once it accepts."""
    import uvicorn

    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.005)
    return Serving(server, task)


def bind(host: str, port: int) -> socket.socket:
    """Bind without listening: connections are refused until the start completes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
    # without it Nagle + delayed ACKs hold a response's body segment back for ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock
