"""``/api/session``: the dashboard's login with an API key (see ``app.web.auth``)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.params import JSONBody

from app.errors import Conflict, Unauthorized
from app.web.auth import COOKIE, SESSION_TTL_S, Auth, session_token
from app.web.hosts import ProxyTrust
from app.web.responses import error_responses


class LoginRequest(msgspec.Struct):
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class SessionView(msgspec.Struct, frozen=True, omit_defaults=True):
    """``required``: whether API keys are configured (the dashboard then needs a login)."""

    required: bool
    logged_in: bool
    name: str | None = None
    scope: str | None = None


def _auth(request: Request[Any, Any, Any]) -> Auth:
    return request.app.state.auth  # type: ignore[no-any-return]


def _cookie(request: Request[Any, Any, Any], value: str, max_age: int) -> Cookie:
    trust: ProxyTrust = request.app.state.proxy_trust
    return Cookie(
        key=COOKIE,
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=trust.is_https(request.scope),
    )


@get("/api/session", tags=["session"], responses=error_responses(429), sync_to_thread=False)
def session_status(request: Request[Any, Any, Any]) -> SessionView:
    """Whether a login is required, and who this browser is logged in as."""
    auth = _auth(request)
    token = session_token(request.scope)
    if not token:
        return SessionView(required=auth.keys.enabled, logged_in=False)
    # The answer tells whether the cookie is a session: that is a check like any other.
    refusal = auth.lockout(request.scope)
    if refusal is not None:
        raise refusal
    principal = auth.sessions.get(token)
    if principal is None:
        if auth.keys.enabled:
            auth.failed(request.scope, token)
        return SessionView(required=auth.keys.enabled, logged_in=False)
    return SessionView(True, True, principal.name, principal.scope)


@post(
    "/api/session",
    status_code=200,
    tags=["session"],
    responses=error_responses(400, 401, 409, 429),
    sync_to_thread=False,
)
def login(data: JSONBody[LoginRequest], request: Request[Any, Any, Any]) -> Response[SessionView]:
    """Log the dashboard in with an API key: sets an HttpOnly, SameSite=Strict session cookie.
    The key itself is never stored or logged. After too many wrong keys from one address, 429
    with ``Retry-After`` whatever the key (``app.web.attempts``)."""
    auth = _auth(request)
    if not auth.keys.enabled:
        raise Conflict("No API keys are configured; the dashboard needs no login.")
    refusal = auth.lockout(request.scope)
    if refusal is not None:
        raise refusal
    principal = auth.keys.match(data.key)
    if principal is None:
        auth.failed(request.scope, data.key)
        raise Unauthorized("That API key is not valid.")
    token = auth.sessions.open(principal)
    return Response(
        SessionView(True, True, principal.name, principal.scope),
        cookies=[_cookie(request, token, SESSION_TTL_S)],
    )


@delete("/api/session", status_code=200, tags=["session"], sync_to_thread=False)
def logout(request: Request[Any, Any, Any]) -> Response[SessionView]:
    """End this browser's session."""
    auth = _auth(request)
    token = session_token(request.scope)
    if token:
        auth.sessions.close(token)
    return Response(SessionView(auth.keys.enabled, False), cookies=[_cookie(request, "", 0)])


HANDLERS = [session_status, login, logout]
