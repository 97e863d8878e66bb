"""The fake vLLM's HTTP surface: a raw ASGI app speaking vLLM's OpenAI-compatible API.

Routes: ``GET /health`` (503 until ``ready``, then 200), ``GET /v1/models``,
``POST /v1/chat/completions`` and ``/v1/completions`` (JSON, or SSE with ``stream: true``:
``data: {…}\\n\\n`` chunks then ``data: [DONE]``), ``POST /v1/embeddings`` (deterministic
384-dim unit vectors from the text), ``GET /metrics`` (vLLM-like Prometheus lines),
``GET /version`` and ``GET /sim/stats`` (``{requests, open_streams, aborted_streams,
active_requests, …}``). Errors are OpenAI-shaped ``{"error": {"message", "type", "code"}}``:
400 bad JSON or fields, 404 unknown model, 413 body over 16 MiB, 503 while loading.

Generation emits exactly ``max_tokens`` (default 16) tokens on an absolute schedule of
``token_rate`` per second, so rates do not drift. A client that disconnects stops generation
at once: a background ``receive()`` watches for ``http.disconnect``, because uvicorn silently
drops writes to a closed connection. A disconnected stream counts in ``aborted_streams``.
Raw ASGI rather than a framework: this server is benchmarked against. Payload shapes live in
``openai_payloads``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from scripts.sparksim import openai_payloads as payloads

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_MAX_TOKENS = 16
MAX_BODY = 16 * 1024 * 1024
_JSON = [(b"content-type", b"application/json")]
_METRICS = [(b"content-type", b"text/plain; version=0.0.4")]
_SSE = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_LOADING = (503, "The model is still loading; retry later.", "ServiceUnavailableError")


class ApiError(Exception):
    """Ends a request with an OpenAI-style error response."""

    def __init__(self, status: int, message: str, kind: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


class VllmApp:
    """ASGI app for one served model. ``ready`` is flipped by the loader; ``token_rate`` is
    tokens per second per request. Single-threaded: counters need no locks."""

    def __init__(
        self, *, served_name: str, model: str, token_rate: float, max_model_len: int = 32768
    ) -> None:
        self.served_name, self.model, self.max_model_len = served_name, model, max_model_len
        self.token_rate = max(token_rate, 0.001)
        self.ready = False
        self.created = int(time.time())
        self.stats = {"requests": 0, "open_streams": 0, "aborted_streams": 0, "active_requests": 0}
        self._totals = {"prompt": 0, "generation": 0, "success": 0}
        self._gets = {
            "/health": self._health,
            "/v1/models": self._models,
            "/metrics": self._metrics,
            "/sim/stats": self._sim_stats,
            "/version": self._version,
        }
        self._posts = {
            "/v1/chat/completions": self._chat,
            "/v1/completions": self._completions,
            "/v1/embeddings": self._embeddings,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        try:
            if path in self._gets and method in ("GET", "HEAD"):
                await self._gets[path](send)
            elif path in self._posts and method == "POST":
                if not self.ready:
                    raise ApiError(*_LOADING)
                await self._posts[path](receive, send)
            elif path in self._gets or path in self._posts:
                await _respond(send, 405, {"detail": "Method Not Allowed"})
            else:
                await _respond(send, 404, {"detail": "Not Found"})
        except ApiError as err:
            await _respond(send, err.status, payloads.error(err.status, err.message, err.kind))

    # --- GETs -------------------------------------------------------------------------------

    async def _health(self, send: Send) -> None:
        await _respond_bytes(send, 200 if self.ready else 503, b"", [])

    async def _models(self, send: Send) -> None:
        if not self.ready:
            raise ApiError(*_LOADING)
        body = payloads.model_list(self.served_name, self.model, self.created, self.max_model_len)
        await _respond(send, 200, body)

    async def _version(self, send: Send) -> None:
        await _respond(send, 200, {"version": "0.11.0+sparksim"})

    async def _sim_stats(self, send: Send) -> None:
        stats = {**self.stats, "ready": self.ready, "served_model_name": self.served_name}
        await _respond(send, 200, stats)

    async def _metrics(self, send: Send) -> None:
        active = self.stats["active_requests"]
        values = {
            "vllm:num_requests_running": active,
            "vllm:gpu_cache_usage_perc": min(1.0, 0.02 + 0.1 * active),
            "vllm:prompt_tokens_total": self._totals["prompt"],
            "vllm:generation_tokens_total": self._totals["generation"],
            "vllm:request_success_total": self._totals["success"],
        }
        await _respond_bytes(send, 200, payloads.metrics_text(self.served_name, values), _METRICS)

    # --- inference --------------------------------------------------------------------------

    async def _read_json(self, receive: Receive, required: str) -> dict[str, Any]:
        """The request body as a JSON object holding ``required``, for the served model."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ApiError(400, "Client disconnected.")
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                raise ApiError(413, "Request body too large.")
            if not message.get("more_body"):
                break
        try:
            data = msgspec.json.decode(bytes(body))
        except msgspec.DecodeError:
            raise ApiError(400, "Request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Request body must be a JSON object.")
        if required not in data:
            raise ApiError(400, f"Field required: {required}")
        model = data.get("model")
        if model is not None and model != self.served_name:
            raise ApiError(404, f"The model `{model}` does not exist.", "NotFoundError")
        return data

    async def _chat(self, receive: Receive, send: Send) -> None:
        data = await self._read_json(receive, "messages")
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, "messages must be a non-empty list.")
        prompt = " ".join(
            str(m.get("content", "")) if isinstance(m, dict) else "" for m in messages
        )
        await self._generate(data, prompt, receive, send, chat=True)

    async def _completions(self, receive: Receive, send: Send) -> None:
        data = await self._read_json(receive, "prompt")
        await self._generate(data, str(data["prompt"]), receive, send, chat=False)

    async def _generate(
        self, data: dict[str, Any], prompt: str, receive: Receive, send: Send, *, chat: bool
    ) -> None:
        max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
        if max_tokens is None:
            max_tokens = DEFAULT_MAX_TOKENS
        elif not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise ApiError(400, "max_tokens must be at least 1.")
        used = payloads.usage(max(1, len(prompt.split())), max_tokens)
        base = {
            "id": ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex,
            "created": int(time.time()),
            "model": self.served_name,
        }
        options = data.get("stream_options")
        with_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.stats["requests"] += 1
        self.stats["active_requests"] += 1
        disconnected = asyncio.create_task(_wait_disconnect(receive))
        try:
            if data.get("stream"):
                await self._stream(base, used, with_usage, disconnected, send, chat=chat)
            else:
                tokens = [t async for t in self._tokens(max_tokens, disconnected)]
                if not disconnected.done():
                    self._finished(used)
                    await _respond(
                        send, 200, payloads.completion(base, "".join(tokens), used, chat=chat)
                    )
        finally:
            self.stats["active_requests"] -= 1
            disconnected.cancel()
            await asyncio.gather(disconnected, return_exceptions=True)

    async def _stream(
        self,
        base: dict[str, Any],
        used: dict[str, int],
        with_usage: bool,
        disconnected: asyncio.Task[None],
        send: Send,
        *,
        chat: bool,
    ) -> None:
        self.stats["open_streams"] += 1
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE})
            if chat:
                await _send_more(send, payloads.chunk(base, chat=True, role=True))
            async for piece in self._tokens(used["completion_tokens"], disconnected):
                await _send_more(send, payloads.chunk(base, chat=chat, piece=piece))
            if disconnected.done():
                self.stats["aborted_streams"] += 1
                return
            tail = payloads.chunk(base, chat=chat, finish="length")
            if with_usage:
                tail += payloads.usage_chunk(base, used, chat=chat)
            self._finished(used)
            await send({"type": "http.response.body", "body": tail + b"data: [DONE]\n\n"})
        finally:
            self.stats["open_streams"] -= 1

    async def _tokens(self, count: int, disconnected: asyncio.Task[None]) -> AsyncIterator[str]:
        """Yield ``count`` tokens at ``token_rate``; returns early when the client is gone."""
        loop = asyncio.get_running_loop()
        start, interval = loop.time(), 1.0 / self.token_rate
        for index in range(count):
            delay = start + (index + 1) * interval - loop.time()
            if delay > 0:
                # Sleeps, but wakes at once on disconnect (one long-lived watcher task).
                await asyncio.wait({disconnected}, timeout=delay)
            if disconnected.done():
                return
            self._totals["generation"] += 1
            yield payloads.token(index)

    def _finished(self, used: dict[str, int]) -> None:
        self._totals["prompt"] += used["prompt_tokens"]
        self._totals["success"] += 1

    async def _embeddings(self, receive: Receive, send: Send) -> None:
        data = await self._read_json(receive, "input")
        try:
            texts = payloads.embedding_texts(data["input"])
        except ValueError as err:
            raise ApiError(400, str(err)) from None
        tokens = sum(max(1, len(t.split())) for t in texts)
        self.stats["requests"] += 1
        self._finished({"prompt_tokens": tokens})
        await _respond(send, 200, payloads.embeddings(self.served_name, texts, tokens))


async def _wait_disconnect(receive: Receive) -> None:
    """Return when the client goes away (once the body is read, receive() blocks until then)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send_more(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _respond(send: Send, status: int, payload: Any) -> None:
    await _respond_bytes(send, status, msgspec.json.encode(payload), _JSON)


async def _respond_bytes(send: Send, status: int, body: bytes, headers: list) -> None:
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})
