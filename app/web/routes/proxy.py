"""The OpenAI-compatible proxy routes (API.md): ``/v1/chat/completions``, ``/v1/completions``,
``/v1/models``, ``/v1/embeddings`` and ``/v1/audio/*``, forwarded to their service.

A thin raw-ASGI mount of :func:`app.proxy.exchange.forward` (its docstring is the contract):
the body is never parsed here, and Litestar still runs its middleware (the same-origin guard,
allowed hosts) in front.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import asgi

from app.proxy.exchange import Receive, Scope, Send, forward
from app.proxy.policy import ROUTES

if TYPE_CHECKING:
    from app.runtime import Runtime


async def _proxy(scope: Scope, receive: Receive, send: Send) -> None:
    state = scope["litestar_app"].state
    rt: Runtime = state.runtime
    await forward(
        scope, receive, send, rt.proxy, rt.upstream, rt.gate, state.proxy_trust.client_address
    )


proxy = asgi(path=list(ROUTES), copy_scope=False, name="openai-proxy")(_proxy)

HANDLERS = [proxy]
