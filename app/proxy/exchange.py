"""The proxy's streaming core: one OpenAI-compatible request (``/v1/chat/completions``,
``/v1/completions``, ``/v1/models``, ``/v1/embeddings``, ``/v1/audio/*``; API.md) forwarded
to its service, in any ASGI server (``app.web.routes.proxy`` mounts :func:`forward`; the client
side is a :class:`~app.proxy.downstream.Downstream`, the server's own when it offers one): the
body is streamed upstream as it arrives, never held, and the answer goes back chunk by chunk.
The guards (allowed hosts, the same-origin guard, API keys) still run in front. Per request:

1. :class:`~app.proxy.policy.ProxyPolicy` admits or refuses before any body byte is read:
   405 wrong method, 404 disabled service, 413 over the body limit (a chunked body is cut off
   with 413 where it crosses it), 429 + ``Retry-After`` over the audio in-flight cap.
1b. Requests to the swapped vLLM pass :class:`~app.proxy.admission.SwapGate`: when quiet (no
   swap, no swap-on-request) they are only tracked, for a later drain; otherwise the body is
   read first to learn its model, and the request is forwarded, held until the incoming model
   is ready, or refused with 503 + ``Retry-After``. A drain's cut: ``app.proxy.swap_answers``.
2. The upstream is opened before anything is answered (unreachable 502, too slow 504); our
   errors are OpenAI-shaped, naming no internal host; backend errors pass through untouched.
3. Status, safe headers (``app.proxy.headers``) and body chunks go back as they arrive.
4. A client that disconnects cancels the exchange, closing the upstream (generation stops).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from app.proxy.admission import Go, SwapGate, Waiter
from app.proxy.asgi import (
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    answer,
    content_length,
    read_body,
    upstream_refusal,
)
from app.proxy.downstream import Downstream, downstream_of
from app.proxy.headers import request_headers, response_headers
from app.proxy.policy import ROUTES, Admission, ProxyPolicy, Refusal, too_large
from app.proxy.swap_answers import SWAP_CUT, SWAP_CUT_EVENT, requested_model
from app.proxy.upstream import Body, Upstream, UpstreamError, UpstreamResponse

log = logging.getLogger("spark_control.proxy")

CLIENT_CLOSED = 499  # the nginx convention, for metrics only: the client went away


class _Exchange:
    """One proxied request, from the first body byte to the last response byte."""

    __slots__ = (
        "_admission",
        "_body",
        "_body_error",
        "_client",
        "_cut",
        "_finishing",
        "_gone",
        "_scope",
        "_started",
        "_task",
        "_upstream",
    )

    def __init__(
        self,
        scope: Scope,
        client: Downstream,
        upstream: Upstream,
        admission: Admission,
        body: bytes | None = None,
    ) -> None:
        self._scope, self._client = scope, client
        self._upstream, self._admission = upstream, admission
        self._body = body  # the whole request body, when admission already read it
        self._task = asyncio.current_task()
        self._gone = False  # the client disconnected (set by the watcher)
        self._cut = False  # a swap's drain ended the request (see cut())
        self._started: bytes | None = None  # the response's content type, once its head is sent
        self._finishing = False  # the last body message is being sent: a disconnect is normal
        # Why the upload stopped, if it did: the upstream client may report it wrapped in its
        # own connection error (it sends the body from another task), so we keep our own note.
        self._body_error: BodyTooLarge | ClientGone | None = None

    async def run(self) -> int:
        """Forward the exchange; returns the status for metrics. Never raises for anything a
        client or backend does (cancellation by the server's shutdown propagates)."""
        try:
            return await self._forward()
        except asyncio.CancelledError:
            if not (self._gone or self._cut) or self._task is None:
                raise
            self._task.uncancel()  # our own cancellation: the client left, or a drain cut us
            if self._gone:
                return CLIENT_CLOSED
            return await self._end_cut()
        except ClientGone:
            return CLIENT_CLOSED
        finally:
            self._client.unwatch()

    async def _forward(self) -> int:
        admission = self._admission
        scope = self._scope
        try:
            body, extra_headers = await self._request_body()
        except BodyTooLarge:
            return await self._too_large()
        url = admission.url
        if scope.get("query_string"):
            url = f"{url}?{scope['query_string'].decode('latin-1')}"
        headers = request_headers(scope["headers"]) + extra_headers
        try:
            response = await self._upstream.open(scope["method"], url, headers, body)
        except (BodyTooLarge, ClientGone, UpstreamError) as err:
            return await self._failed(self._body_error or err)
        try:
            await self._relay(response)
        finally:
            self._finishing = True
            # Shielded: a late disconnect must not interrupt the close and leak the connection.
            await asyncio.shield(response.aclose())
        return response.status

    async def _failed(self, failure: Exception) -> int:
        """Answer a request that never got an upstream response; returns the status."""
        if isinstance(failure, ClientGone):
            return CLIENT_CLOSED
        if isinstance(failure, UpstreamError):
            route = self._admission.route
            log.warning("proxy %s → %s: %s", route.path, self._admission.url, failure)
            refusal = upstream_refusal(failure, route.service)
            await answer(self._client, refusal)
            return refusal.status
        return await self._too_large()

    async def _too_large(self) -> int:
        refusal = too_large(self._admission.body_limit)
        await answer(self._client, refusal)
        return refusal.status

    async def _relay(self, response: UpstreamResponse) -> None:
        client = self._client
        headers = response_headers(response.headers)
        await client.start(response.status, headers)
        self._started = next((v for k, v in headers if k == b"content-type"), b"")
        try:
            async for chunk in response.chunks():
                # The last bytes end the response with them: one write to the client, not two.
                self._finishing = response.complete
                await client.write(chunk, not self._finishing)
        except UpstreamError as err:
            # The status is already sent: the only honest signal left is to end the response
            # without its terminator, so the client sees a truncated body, not a complete one.
            log.warning("proxy %s: %s", self._admission.route.path, err)
            return
        if not self._finishing:
            self._finishing = True
            await client.write(b"", False)

    async def _request_body(self) -> tuple[Body, list[tuple[bytes, bytes]]]:
        """The body to send upstream: bytes when the whole body came in one message (the
        common small JSON request), else a stream that counts bytes against the limit."""
        if self._scope["method"] in ("GET", "HEAD"):
            self._watch()
            return None, []
        if self._body is not None:
            self._watch()
            return self._body, []
        first, more = await self._client.body_chunk()
        limit = self._admission.body_limit
        if not more:
            if len(first) > limit:
                raise BodyTooLarge
            self._watch()
            return first, []
        length = content_length(self._scope)
        extra = [(b"content-length", str(length).encode())] if length is not None else []
        return self._stream_body(first, limit), extra

    async def _stream_body(self, first: bytes, limit: int) -> AsyncIterator[bytes]:
        received = len(first)
        if received > limit:
            raise self._body_failed(BodyTooLarge())
        if first:  # never an empty chunk: in a chunked upload it would read as the end
            yield first
        while True:
            try:
                chunk, more = await self._client.body_chunk()
            except ClientGone as gone:
                raise self._body_failed(gone) from None
            received += len(chunk)
            if received > limit:
                # Stop reading here: the rest of the upload is never received.
                raise self._body_failed(BodyTooLarge())
            if chunk:
                yield chunk
            if not more:
                self._watch()
                return

    def _body_failed(self, error: BodyTooLarge | ClientGone) -> Exception:
        self._body_error = error
        return error

    def cut(self) -> None:
        """End this request now because its model is being swapped out (a drain's deadline)."""
        if self._task is not None and not self._finishing and not self._cut:
            self._cut = True
            self._task.cancel()

    async def _end_cut(self) -> int:
        """Tell the client of a cut request why it ended: a 503 when nothing was sent yet, an
        SSE error event and ``[DONE]`` on a stream; a plain body cannot be amended and ends
        truncated (the connection closes without its remaining bytes)."""
        self._finishing = True
        if self._started is None:
            await answer(self._client, SWAP_CUT)
        elif self._started.startswith(b"text/event-stream"):
            await self._client.write(SWAP_CUT_EVENT, False)
        return SWAP_CUT.status

    def _watch(self) -> None:
        """Start watching for the client's disconnect (only once its body is fully read:
        before that, reading the body reports it)."""
        self._client.watch(self._client_left)

    def _client_left(self) -> None:
        # An ASGI server also reports "disconnect" once our response is complete: not a
        # client leaving.
        if not self._finishing and self._task is not None:
            self._gone = True
            self._task.cancel()


async def forward(
    scope: Scope,
    receive: Receive,
    send: Send,
    policy: ProxyPolicy,
    upstream: Upstream,
    gate: SwapGate | None = None,
    client_of: Callable[[Scope], str] | None = None,
) -> None:
    """Serve one proxied request on ``scope`` (one of :data:`ROUTES`' paths) through
    ``policy`` (and, for the swapped vLLM, ``gate``) to ``upstream``. ``client_of`` names the
    client for a swap it starts (default: the TCP peer). Never raises for anything a client or
    backend does."""
    client = downstream_of(scope, receive, send)
    route = ROUTES.get(scope["path"]) or ROUTES.get(scope["path"].rstrip("/"))
    if route is None:  # pragma: no cover - only the paths of ROUTES are mounted
        await answer(client, Refusal(404, "Not found.", "invalid_request_error", "not_found"))
        return
    decision = policy.admit(route, scope["method"], content_length(scope))
    if isinstance(decision, Refusal):
        await answer(client, decision)
        return
    started = policy.metrics.proxy_started(route.path)
    status = 500
    if route.service != "vllm":
        gate = None
    exchange: _Exchange | None = None
    try:
        if gate is None or gate.quiet:
            # The common case: no swap runs, nothing to decide, nothing read in advance.
            exchange = _Exchange(scope, client, upstream, decision)
            if gate is not None:
                gate.track(exchange)
            status = await exchange.run()
        else:
            status, exchange = await _through_gate(
                gate, scope, client, upstream, decision, client_of
            )
    finally:
        if gate is not None and exchange is not None:
            gate.untrack(exchange)
        policy.release(decision)
        policy.metrics.proxy_finished(route.path, status, started)


async def _through_gate(
    gate: SwapGate,
    scope: Scope,
    client: Downstream,
    upstream: Upstream,
    admission: Admission,
    client_of: Callable[[Scope], str] | None,
) -> tuple[int, _Exchange | None]:
    """A request to the swapped model while a swap runs (or swap-on-request is on): read its
    body to learn the model it names, then forward, refuse or hold it (``app.proxy.admission``).
    Returns the status and the exchange the gate tracks, if it was forwarded."""
    body: bytes | None = None
    if scope["method"] not in ("GET", "HEAD"):
        try:
            body = await read_body(client, admission.body_limit)
        except ClientGone:
            return CLIENT_CLOSED, None
        except BodyTooLarge:
            refusal = too_large(admission.body_limit)
            await answer(client, refusal)
            return refusal.status, None
    if client_of is not None:
        address = client_of(scope)
    else:
        peer = scope.get("client")
        address = peer[0] if peer else "unknown client"
    verdict = gate.decide(requested_model(body), address)
    if isinstance(verdict, Waiter):
        waited = await _hold(gate, verdict, client)
        if waited is None:
            return CLIENT_CLOSED, None
        verdict = waited
    if isinstance(verdict, Refusal):
        await answer(client, verdict)
        return verdict.status, None
    exchange = _Exchange(scope, client, upstream, admission, body)
    gate.track(exchange)
    return await exchange.run(), exchange


async def _hold(gate: SwapGate, waiter: Waiter, client: Downstream) -> Go | Refusal | None:
    """Wait for the incoming model, the hold timeout, or the client leaving (None)."""
    left = asyncio.ensure_future(client.gone())
    waits: set[asyncio.Future[Any]] = {waiter.outcome, left}
    try:
        done, _ = await asyncio.wait(
            waits,
            timeout=gate.settings.hold_timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        left.cancel()
        if not waiter.outcome.done():
            gate.leave(waiter)
    if waiter.outcome in done and not waiter.outcome.cancelled():
        return waiter.outcome.result()
    if left in done:
        return None
    return gate.timed_out()
