"""Optional API keys (``server.api_keys``), for clients reaching the appliance over a VPN.

With no keys configured (the default) nothing here applies: the LAN stance of the coordination
seed is unchanged. With keys, every request to ``/api/…``, ``/v1/…`` and ``/metrics`` needs a
credential, except ``/api/health`` (StartOS's health check) and ``/api/session`` (the login):

* ``Authorization: Bearer <key>`` — what scripts and OpenAI clients send (``api_key=…``);
* or the dashboard's session cookie, set by logging in with a key (below).

Only each key's SHA-256 is configured. A presented key is hashed and compared with every
configured hash with ``hmac.compare_digest`` (all of them, so the time does not depend on which
matched). Keys, hashes and session tokens are never logged.

Scopes: ``read`` — GET/HEAD on /api and /metrics, and the OpenAI-compatible /v1 routes (using a
model does not change what runs); ``operate`` — also swaps, cancels, the lock and schedules;
``admin`` — also catalog changes (``/api/models`` writes) and a forced lock release.

Missing or wrong credentials: 401 — on /v1 in OpenAI's shape (``{"error": {message, type,
code: "invalid_api_key"}}``, what OpenAI SDKs parse), elsewhere ``{"detail"}`` — with
``WWW-Authenticate: Bearer``. A key whose scope is too small: 403. Too many wrong credentials
from one client address: 429 with ``Retry-After`` for whatever it presents until its window
ends (``app.web.attempts``).

The dashboard: its page and static files carry no data and are served to anyone; when an API
call answers 401, the page sends the user to a login form that posts a key to ``POST
/api/session``. A valid key opens a server-side session (in memory, 12 h) whose random token is
set as an ``HttpOnly; SameSite=Strict`` cookie (``Secure`` when the browser came over HTTPS):
scripts cannot read it, and no other site can make the browser send it, so it cannot be used
cross-site (the same-origin guard refuses such writes anyway). ``DELETE /api/session`` logs out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Literal
from urllib.parse import parse_qs

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.config import ApiKey
from app.errors import Throttled
from app.proxy.asgi import openai_error_body
from app.web.attempts import FailedAttempts
from app.web.hosts import ProxyTrust, header
from app.web.raw import send_json

log = logging.getLogger("spark_control.auth")

Scope_ = Literal["read", "operate", "admin"]
RANK = {"read": 0, "operate": 1, "admin": 2}
COOKIE = "spark_session"
SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 256
OPEN_PATHS = frozenset({"/api/health", "/api/session"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a request authenticated as (never the key)."""

    name: str
    scope: Scope_


class KeyRing:
    """The configured keys; ``match`` finds the key a client presented, in constant time."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._keys = [(key.key_sha256.lower(), Principal(key.name, key.scope)) for key in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def match(self, presented: str) -> Principal | None:
        presented_digest = digest(presented)
        found: Principal | None = None
        for expected, principal in self._keys:
            if hmac.compare_digest(expected, presented_digest) and found is None:
                found = principal
        return found


class Sessions:
    """Dashboard sessions: random token → principal, in memory, bounded, expiring."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        # Keyed by the token's digest: the lookup then reveals nothing usable about tokens.
        self._by_digest: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def open(self, principal: Principal) -> str:
        token = secrets.token_urlsafe(32)
        self._by_digest[digest(token)] = (principal, self._monotonic() + SESSION_TTL_S)
        while len(self._by_digest) > MAX_SESSIONS:
            self._by_digest.popitem(last=False)
        return token

    def get(self, token: str) -> Principal | None:
        entry = self._by_digest.get(digest(token))
        if entry is None:
            return None
        principal, expires = entry
        if self._monotonic() >= expires:
            del self._by_digest[digest(token)]
            return None
        return principal

    def close(self, token: str) -> None:
        self._by_digest.pop(digest(token), None)


def session_token(scope: Scope) -> str | None:
    raw = header(scope, b"cookie")
    if not raw:
        return None
    try:
        cookies = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = cookies.get(COOKIE)
    return morsel.value if morsel and morsel.value else None


def bearer(scope: Scope) -> str | None:
    raw = header(scope, b"authorization")
    if not raw:
        return None
    kind, _, value = raw.strip().partition(" ")
    return value.strip() or None if kind.lower() == "bearer" else None


def guarded(path: str) -> bool:
    """Whether ``path`` needs a credential when keys are configured."""
    if path in OPEN_PATHS:
        return False
    return path.startswith(("/api/", "/v1/")) or path in ("/api", "/v1", "/metrics")


def required_scope(method: str, path: str, query: bytes) -> Scope_:
    if path.startswith("/v1"):
        return "read"
    if method in READ_METHODS:
        return "read"
    if path.startswith("/api/models"):
        return "admin"
    if path == "/api/swap/lock" and method == "DELETE":
        force = parse_qs(query.decode("latin-1")).get("force", [""])[-1]
        if force.lower() in ("true", "1", "yes"):
            return "admin"
    return "operate"


@dataclass(frozen=True)
class Credential:
    """What a request presented: an API key (``Authorization: Bearer``) or a session token."""

    kind: Literal["key", "session"]
    value: str

    def __repr__(self) -> str:
        return f"Credential(kind={self.kind!r})"


def presented(scope: Scope) -> Credential | None:
    """The credential of a request, if any: its Bearer key wins over its session cookie."""
    key = bearer(scope)
    if key is not None:
        return Credential("key", key)
    token = session_token(scope)
    return Credential("session", token) if token else None


def throttled(retry_after_s: int) -> Throttled:
    return Throttled(
        "Too many failed API key attempts from this address; "
        f"try again in {retry_after_s} seconds.",
        retry_after_s,
    )


class Auth:
    """The keys, the dashboard sessions and the failed-attempt limiter of one app."""

    def __init__(
        self,
        keys: Iterable[ApiKey],
        trust: ProxyTrust,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys = KeyRing(keys)
        self.sessions = Sessions(monotonic)
        self.attempts = FailedAttempts(monotonic)
        self._trust = trust

    def verify(self, credential: Credential) -> Principal | None:
        """Whom ``credential`` authenticates, None when it is wrong (the caller counts that)."""
        if credential.kind == "key":
            return self.keys.match(credential.value)
        return self.sessions.get(credential.value)

    def lockout(self, scope: Scope) -> Throttled | None:
        """The refusal for a request whose client is locked out, else None. Call it before
        checking a credential the request presents."""
        if not self.attempts:  # nobody failed lately: no address to resolve
            return None
        wait = self.attempts.retry_after(self._trust.client_address(scope))
        return None if wait is None else throttled(wait)

    def failed(self, scope: Scope, credential: str) -> None:
        """The request presented ``credential`` and it was wrong."""
        self.attempts.failed(self._trust.client_address(scope), credential)


def auth_guard(auth: Auth) -> Callable[[ASGIApp], ASGIApp]:
    """The ASGI middleware factory enforcing the keys (a no-op when none are configured)."""

    def middleware(app: ASGIApp) -> ASGIApp:
        if not auth.keys.enabled:
            return app

        async def checked(scope: Scope, receive: Receive, send: Send) -> None:
            path: str = scope["path"]
            if scope["type"] != ScopeType.HTTP or not guarded(path):
                await app(scope, receive, send)
                return
            credential = presented(scope)
            openai = path.startswith("/v1")
            refusal = auth.lockout(scope) if credential is not None else None
            if refusal is not None:
                body = (
                    openai_error_body(refusal.message, "rate_limit_error", "too_many_attempts")
                    if openai
                    else msgspec.json.encode({"detail": refusal.message})
                )
                retry_after = str(refusal.retry_after_s).encode()
                await send_json(send, 429, body, [(b"retry-after", retry_after)])
                return
            principal = auth.verify(credential) if credential is not None else None
            if principal is None:
                if credential is not None:
                    auth.failed(scope, credential.value)
                message = "A valid API key is required: send it as 'Authorization: Bearer <key>'."
                body = (
                    openai_error_body(message, "invalid_request_error", "invalid_api_key")
                    if openai
                    else msgspec.json.encode({"detail": message})
                )
                log.info("refused %s %s: no valid API key", scope.get("method"), path[:200])
                await send_json(send, 401, body, [(b"www-authenticate", b"Bearer")])
                return
            needed = required_scope(
                str(scope.get("method", "GET")), path, scope.get("query_string", b"")
            )
            if RANK[principal.scope] < RANK[needed]:
                message = (
                    f"The API key {principal.name!r} has scope {principal.scope}; "
                    f"this request needs {needed}."
                )
                body = (
                    openai_error_body(message, "invalid_request_error", "insufficient_scope")
                    if openai
                    else msgspec.json.encode({"detail": message})
                )
                await send_json(send, 403, body, [])
                return
            await app(scope, receive, send)

        return checked

    return middleware
