"""``GET /api/logs/vllm`` (the last lines of the vLLM container log on a Spark) and
``GET /api/logs/vllm/stream`` (the same log, followed live, as Server-Sent Events).

The stream runs ``docker logs --tail N -f <container>`` over SSH. It is opened before the
response starts (so an unreachable Spark is a 502, not a broken stream) and closed — the
remote process terminated — when the client goes away: in the generator's ``finally`` and,
in case the generator never ran, in the response's background task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import get
from litestar.background_tasks import BackgroundTask
from litestar.params import QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from app.cluster.ssh import SshError
from app.errors import NotConfigured, NotFound, Unavailable
from app.runtime import Runtime
from app.services.vllm_logs import (
    ALL,
    DEFAULT_LINES,
    MAX_LINES,
    LogsUnavailable,
    MergedLog,
    NoContainer,
    clip,
    line_time,
)
from app.web import sse
from app.web.deps import Rt
from app.web.responses import error_responses

QUEUE_LINES = 1000  # lines buffered between SSH and a slow client (then SSH waits)

NodeParam = Annotated[
    str | None,
    QueryParameter(
        name="node",
        required=False,
        max_length=64,
        description="A Spark name (default: the head), or all (every Spark, merged by time).",
    ),
]
LinesParam = Annotated[
    int,
    QueryParameter(
        name="lines", ge=1, le=MAX_LINES, description=f"How many lines (1-{MAX_LINES})."
    ),
]


class LogTail(msgspec.Struct, frozen=True):
    node: str
    container: str
    lines: list[str]


async def _checked_node(rt: Runtime, node: str | None) -> str:
    """The Spark to read from, with its container present (raises the logs' refusals)."""
    name = rt.vllm_logs.resolve(node)
    await rt.vllm_logs.ensure_container(name)
    return name


@get("/api/logs/vllm", tags=["logs"], responses=error_responses(400, 404, 409, 502))
async def vllm_log_tail(
    rt: Rt, node: NodeParam = None, lines: LinesParam = DEFAULT_LINES
) -> LogTail | MergedLog:
    """The last ``lines`` lines of the vLLM container log on ``node`` (the head by default).
    ``node=all``: every Spark's log merged by the time vLLM wrote on each line, as
    ``entries: [{node, t, line}]``, the Sparks that could not be read named in ``errors``."""
    if node == ALL:
        if not rt.config.configured:
            raise NotConfigured()
        merged = await rt.vllm_logs.tail_all(lines)
        if not merged.entries and len(merged.errors) == len(rt.config.sparks):
            detail = " ".join(merged.errors.values())
            if all("no container" in e for e in merged.errors.values()):
                raise NotFound(detail)
            raise Unavailable(detail)
        return merged
    name = await _checked_node(rt, node)
    found = await rt.vllm_logs.tail(name, lines)
    return LogTail(node=name, container=rt.vllm_logs.container, lines=found)


class _End(msgspec.Struct, frozen=True):
    detail: str


class _Closer:
    """Ends one log stream exactly once: stops the reader task, then leaves the transport's
    stream context (which terminates the remote ``docker logs``). Shielded, so a caller that
    is itself being cancelled (the client went away) cannot interrupt the cleanup."""

    def __init__(self, context: contextlib.AbstractAsyncContextManager[Any]) -> None:
        self._context = context
        self._task: asyncio.Task[None] | None = None
        self.reader: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._task)

    async def _close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        with contextlib.suppress(Exception):
            await self._context.__aexit__(None, None, None)


async def _read(output: AsyncIterator[str], queue: asyncio.Queue[str | _End]) -> None:
    held = 0  # empty lines wait for a next line: an empty "line" at EOF is not in the log
    try:
        async for line in output:
            if not line:
                held += 1
                continue
            for _ in range(held):
                await queue.put("")
            held = 0
            await queue.put(clip(line))
        await queue.put(_End("The log ended: the container stopped."))
    except SshError as err:
        await queue.put(_End(err.message))


async def _read_tagged(
    node: str, output: AsyncIterator[str], queue: asyncio.Queue[tuple[str, str | _End]]
) -> None:
    """``_read`` for one of several Sparks: every item tagged with its node."""
    inner: asyncio.Queue[str | _End] = asyncio.Queue(maxsize=1)
    reader = asyncio.get_running_loop().create_task(_read(output, inner))
    try:
        while True:
            item = await inner.get()
            await queue.put((node, item))
            if isinstance(item, _End):
                return
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


class _Closers:
    """Closes every node's stream of a merged follow (each exactly once)."""

    def __init__(self, closers: list[_Closer]) -> None:
        self.closers = closers

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.closers), return_exceptions=True)


async def _follow_all(
    outputs: dict[str, AsyncIterator[str]], closers: _Closers
) -> AsyncIterator[ServerSentEventMessage]:
    """Every node's live log as one stream: ``log`` ``{node, t, line}`` (``t`` is the time
    vLLM wrote on the line, or the node's previous one), ``end`` ``{node, detail}`` per node;
    the stream ends when every node's log has ended."""
    queue: asyncio.Queue[tuple[str, str | _End]] = asyncio.Queue(maxsize=QUEUE_LINES)
    for node, output, closer in zip(outputs, outputs.values(), closers.closers, strict=True):
        closer.reader = asyncio.get_running_loop().create_task(_read_tagged(node, output, queue))
    last_time = dict.fromkeys(outputs, "")
    open_nodes = set(outputs)
    sent = 0
    try:
        while open_nodes:
            try:
                node, item = await asyncio.wait_for(queue.get(), sse.HEARTBEAT_S)
            except TimeoutError:
                yield sse.heartbeat()
                continue
            sent += 1
            if isinstance(item, _End):
                open_nodes.discard(node)
                yield sse.message("end", {"node": node, "detail": item.detail}, sent)
                continue
            last_time[node] = line_time(item) or last_time[node]
            yield sse.message(
                "log", {"node": node, "t": last_time[node] or None, "line": item}, sent
            )
    finally:
        await closers.close()


async def _open_all(rt: Runtime, lines: int) -> ServerSentEvent:
    """Open a follow on every Spark that has the container (at least one must)."""
    if not rt.config.configured:
        raise NotConfigured()
    names = [s.name for s in rt.config.sparks]
    checks = await asyncio.gather(
        *(rt.vllm_logs.ensure_container(n) for n in names), return_exceptions=True
    )
    outputs: dict[str, AsyncIterator[str]] = {}
    closers: list[_Closer] = []
    problems: list[str] = []
    for name, check in zip(names, checks, strict=True):
        if isinstance(check, BaseException):
            if not isinstance(check, (NoContainer, LogsUnavailable, SshError)):
                raise check
            problems.append(check.message)
            continue
        context = rt.vllm_logs.follow(name, lines)
        try:
            outputs[name] = await context.__aenter__()
        except SshError as err:
            problems.append(err.message)
            continue
        closers.append(_Closer(context))
    if not outputs:
        detail = " ".join(problems) or "No Spark's log could be read."
        if problems and all("no container" in p for p in problems):
            raise NotFound(detail)
        raise Unavailable(detail)
    all_closers = _Closers(closers)
    return sse.sse_response(
        _follow_all(outputs, all_closers),
        background=BackgroundTask(all_closers.close),
        closing=rt.closing,
    )


async def _follow(
    node: str, output: AsyncIterator[str], closer: _Closer
) -> AsyncIterator[ServerSentEventMessage]:
    queue: asyncio.Queue[str | _End] = asyncio.Queue(maxsize=QUEUE_LINES)
    closer.reader = asyncio.get_running_loop().create_task(_read(output, queue))
    sent = 0
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), sse.HEARTBEAT_S)
            except TimeoutError:
                yield sse.heartbeat()
                continue
            sent += 1
            if isinstance(item, _End):
                yield sse.message("end", {"node": node, "detail": item.detail}, sent)
                return
            yield sse.message("log", {"node": node, "line": item}, sent)
    finally:
        await closer.close()


@get(
    "/api/logs/vllm/stream",
    tags=["logs"],
    media_type=sse.EVENT_STREAM,
    responses=error_responses(400, 404, 409, 502),
)
async def vllm_log_stream(
    rt: Rt, node: NodeParam = None, lines: LinesParam = DEFAULT_LINES
) -> ServerSentEvent:
    """Follow the vLLM container log on ``node`` (the head by default) as Server-Sent Events:
    ``event: log`` ``{node, line}`` for the last ``lines`` lines and then each new one, and
    ``event: end`` ``{node, detail}`` when the log ends (the container stopped). Closing the
    connection stops the remote ``docker logs -f``. ``node=all`` follows every Spark that has
    the container at once: ``log`` events carry ``{node, t, line}``, one ``end`` per node."""
    if node == ALL:
        return await _open_all(rt, lines)
    name = await _checked_node(rt, node)
    context = rt.vllm_logs.follow(name, lines)
    output = await context.__aenter__()
    closer = _Closer(context)
    return sse.sse_response(
        _follow(name, output, closer), background=BackgroundTask(closer.close), closing=rt.closing
    )


HANDLERS = [vllm_log_tail, vllm_log_stream]
