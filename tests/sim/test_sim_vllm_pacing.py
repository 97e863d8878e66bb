"""The fake vLLM's token pacing, on a virtual clock: ``max_tokens`` tokens at ``token_rate``
per second on an absolute schedule, so a request takes tokens / rate and rates do not drift.

The app runs in an event loop whose clock only moves when every task waits for a timer, and
then jumps straight to that timer: the figures below are the schedule the app asked for,
exact whatever the machine's speed or load.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import selectors
from typing import Any

import pytest

from scripts.sparksim.vllm_app import VllmApp

RATE = 100.0  # tokens per second
TOKENS = 30
WRITE_S = 0.004  # each write of the streaming test: under one token interval


class _VirtualSelector(selectors.DefaultSelector):
    """Never blocks: with nothing ready it advances ``now`` by the timeout the loop asked
    for (the wait until its next timer)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if not ready and timeout:
            self.now += timeout
        elif not ready and timeout is None:
            raise RuntimeError("deadlock: every task waits and no timer is due")
        return ready


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


def _run(coro: Any) -> Any:
    loop = _VirtualLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def _post(
    app: VllmApp, path: str, body: dict[str, Any], write_s: float = 0.0
) -> tuple[float, list[tuple]]:
    """POST ``body`` to the app from a client that stays connected and whose every write takes
    ``write_s`` (virtual) seconds; returns the virtual time the request started and
    ``(time, message)`` for every ASGI message the app sent, timed when the send began."""
    loop = asyncio.get_running_loop()
    connected = loop.create_future()  # never resolves: the client does not go away
    pending = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        return await connected

    sent: list[tuple[float, dict[str, Any]]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append((loop.time(), message))
        if write_s:
            await asyncio.sleep(write_s)  # virtual time: a slow network write, not a wait

    started = loop.time()
    await app({"type": "http", "method": "POST", "path": path, "headers": []}, receive, send)
    return started, sent


def _app() -> VllmApp:
    app = VllmApp(served_name="qwen", model="Qwen/Qwen3-32B", token_rate=RATE)
    app.ready = True
    return app


def _text(message: dict[str, Any]) -> str:
    """The text of a streamed body message's first event ("" for the head and the tail)."""
    if message["type"] != "http.response.body":
        return ""
    event = message["body"].split(b"\n\n")[0].removeprefix(b"data: ")
    return json.loads(event)["choices"][0]["text"]


def test_an_answer_comes_after_tokens_over_rate():
    chat = {"messages": [{"role": "user", "content": "Say hello"}], "max_tokens": TOKENS}
    started, sent = _run(_post(_app(), "/v1/chat/completions", chat))
    (head_at, head), (body_at, body) = sent
    assert head["status"] == 200
    assert json.loads(body["body"])["usage"]["completion_tokens"] == TOKENS
    assert head_at - started == pytest.approx(TOKENS / RATE)
    assert body_at == head_at


def test_streamed_tokens_keep_an_absolute_schedule():
    body = {"prompt": "Once", "max_tokens": TOKENS, "stream": True}
    started, sent = _run(_post(_app(), "/v1/completions", body, write_s=WRITE_S))
    token_times = [at for at, message in sent if _text(message)]
    assert len(token_times) == TOKENS
    # One token every 1 / rate: writes that take time do not push the schedule back, however
    # long the stream; the first comes no sooner than one interval after the request.
    gaps = [later - earlier for earlier, later in itertools.pairwise(token_times)]
    assert gaps == pytest.approx([1 / RATE] * (TOKENS - 1))
    assert token_times[0] - started >= 1 / RATE
    assert sent[0][0] == started  # the head at once, before the first token
