"""The same-origin guard for unsafe methods (API.md, cross-cutting).

(Optional API keys are ``app.web.auth``; which Host names are served is ``app.web.hosts``.)
What a browser on another site must not do is
make the user's browser swap models or release the lock: a POST/PUT/PATCH/DELETE whose
``Origin`` names a different origin than the ``Host`` it was sent to, or that the browser marks
``Sec-Fetch-Site: cross-site``, is refused with 403. Requests with neither header (curl, SDKs,
cron jobs) pass: they are not ambient-credential browser requests.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.web.hosts import ProxyTrust
from app.web.raw import send_json

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _authority(host: str, scheme: str) -> tuple[str, int] | None:
    parts = urlsplit(f"//{host}")
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme, 80)


def is_cross_site(scope: Scope, trust: ProxyTrust) -> bool:
    """True when the request's browser metadata shows it comes from a different origin."""
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site == "cross-site":
        return True
    if fetch_site == "same-origin":
        # The browser itself vouches for the origin. This matters behind a reverse proxy
        # (StartOS serves the UI through one) where Host names the backend, not the page.
        return False
    origin = _header(scope, b"origin")
    if origin is None:
        return False
    parsed = urlsplit(origin)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return True  # "null" or an opaque origin: a sandboxed or file:// page
    # X-Forwarded-Host is the proxy's word for the host the browser addressed — but only a
    # trusted proxy's: after a DNS rebinding the attacker's page is same-origin and can set it.
    host = trust.forwarded_header(scope, b"x-forwarded-host") or _header(scope, b"host")
    if host is None:
        return True
    origin_authority = _authority(parsed.netloc, parsed.scheme)
    # The Host header carries no scheme; compare against the origin's own scheme.
    return origin_authority is None or origin_authority != _authority(host, parsed.scheme)


def same_origin_guard(trust: ProxyTrust) -> Callable[[ASGIApp], ASGIApp]:
    """The ASGI middleware factory: 403 for a cross-site unsafe request."""

    def factory(app: ASGIApp) -> ASGIApp:
        return _guard(app, trust)

    return factory


def _guard(app: ASGIApp, trust: ProxyTrust) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == ScopeType.HTTP
            and scope.get("method") in UNSAFE_METHODS
            and is_cross_site(scope, trust)
        ):
            body = msgspec.json.encode({"detail": "Cross-site requests are not allowed."})
            await send_json(send, 403, body)
            return
        await app(scope, receive, send)

    return middleware
