"""Reading a Server-Sent Events stream in tests, one event at a time, with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx


class SseEvent:
    """One event: ``event`` (``message`` when the server named none), ``id``, ``data``
    (decoded JSON when it is JSON) — or a comment line (``event == ":"``, a heartbeat)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.event = fields.get("event", "message")
        self.id = fields.get("id")
        raw = fields.get("data", "")
        try:
            self.data: Any = json.loads(raw) if raw else None
        except ValueError:
            self.data = raw

    def __repr__(self) -> str:
        return f"SseEvent(event={self.event!r}, id={self.id!r}, data={self.data!r})"


class SseStream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 10.0, *, comments: bool = False) -> SseEvent:
        """The next event (comments skipped unless ``comments``); fails the test after
        ``timeout`` seconds, raises StopAsyncIteration when the server ended the stream."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            while True:
                line = await anext(self._lines)
                if line.startswith(":"):
                    if comments:
                        return SseEvent({"event": ":", "data": json.dumps(line[1:].strip())})
                    continue
                if not line:
                    if fields:
                        return SseEvent(fields)
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")

    async def until(self, kind: str, timeout: float = 10.0) -> SseEvent:
        """Skip events until one of ``kind`` arrives."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next(timeout)
                if event.event == kind:
                    return event

    async def rest(self, timeout: float = 10.0) -> list[SseEvent]:
        """Every remaining event until the server ends the stream."""
        events = []
        async with asyncio.timeout(timeout):
            while True:
                try:
                    events.append(await self.next(timeout))
                except StopAsyncIteration:
                    return events


@contextlib.asynccontextmanager
async def open_sse(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[SseStream]:
    """``GET url`` as an event stream; leaving the block disconnects (closes the connection)."""
    async with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SseStream(response)
