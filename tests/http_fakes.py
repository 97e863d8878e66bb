"""Tiny HTTP services for tests, served by ``tests.servers.serve`` on 127.0.0.1 port 0.

:class:`RecordingService` answers like a service's health check (and, with ``models``, like a
vLLM: ``/health`` + ``/v1/models``) and records every request, so a test can prove a probe
did — or did not — reach it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def lifespan(receive: Any, send: Any) -> None:
    """Answer an ASGI lifespan (startup, shutdown) for an app with nothing to start."""
    while (message := await receive())["type"] != "lifespan.shutdown":
        await send({"type": message["type"] + ".complete"})
    await send({"type": "lifespan.shutdown.complete"})


class RecordingService:
    """A raw ASGI app. ``requests``: the paths asked for, in order. ``healthy`` may be flipped
    by the test: when False, ``/health`` answers 503."""

    def __init__(self, *, models: tuple[str, ...] = ()) -> None:
        self.models = models
        self.healthy = True
        self.requests: list[str] = []
        self._arrived = asyncio.Event()

    async def wait_requests(self, count: int) -> None:
        """Wait until ``count`` requests arrived in all (callers bound it)."""
        while len(self.requests) < count:
            self._arrived.clear()
            await self._arrived.wait()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        path = scope["path"]
        self.requests.append(path)
        self._arrived.set()
        status, body = 404, {"error": "not found"}
        if path in ("/health", "/healthz"):
            status, body = (200, {"status": "ok"}) if self.healthy else (503, {"status": "down"})
        elif path == "/v1/models" and self.models:
            status, body = 200, {"object": "list", "data": [{"id": m} for m in self.models]}
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})
