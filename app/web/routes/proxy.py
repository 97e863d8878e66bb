"""The OpenAI-compatible proxy routes (API.md): ``/v1/chat/completions``, ``/v1/completions``,
``/v1/models``, ``/v1/embeddings`` and ``/v1/audio/*``, forwarded to their service.

:func:`proxy_endpoint` is a raw-ASGI app around :func:`app.proxy.exchange.forward` (its
docstring is the contract): the body is never parsed here. ``app.web.app.SparkControlApp``
answers the paths :func:`is_proxied` accepts with it *before* Litestar's router, behind the
same guards as every route (allowed hosts, API keys, same origin): routing, the exception
middleware and the request machinery were a fifth of a proxied request's CPU, for paths that
need none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from app.proxy.asgi import Receive, Scope, Send
from app.proxy.exchange import forward
from app.proxy.policy import ROUTES

if TYPE_CHECKING:
    from litestar.types import ASGIApp

    from app.runtime import Runtime
    from app.web.hosts import ProxyTrust


def is_proxied(path: str) -> bool:
    """Whether ``path`` is one of the proxied routes (a trailing slash allowed)."""
    return path in ROUTES or path.rstrip("/") in ROUTES


def proxy_endpoint(rt: Runtime, trust: ProxyTrust) -> ASGIApp:
    """The ASGI app forwarding a proxied request of ``rt`` (its client named through
    ``trust`` when it starts a swap)."""

    client_of = cast("Callable[[Scope], str]", trust.client_address)

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        await forward(scope, receive, send, rt.proxy, rt.upstream, rt.gate, client_of)

    return cast("ASGIApp", endpoint)
