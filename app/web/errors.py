"""Every error a client can see is shaped here, in one place.

Domain code raises the refusal kinds of ``app.errors``; :data:`STATUS_OF` maps each kind to its
HTTP status, and one handler shapes them all. API errors are ``{"detail": "<sentence>",
...extra}``; the OpenAI-compatible proxy routes use ``{"error": {"message", "type", "code"}}``
(``app.proxy.asgi.openai_error_body``). No response ever carries a stack trace, an internal
class name, a token or a secret: unexpected exceptions become a generic 500 and are logged.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from app.cluster.ssh import SshError
from app.errors import (
    Conflict,
    Forbidden,
    Invalid,
    LockedOut,
    NotFound,
    Throttled,
    Unauthorized,
    Unavailable,
    UserError,
)

log = logging.getLogger("spark_control.http")


# Each refusal kind's status (the kinds are disjoint: a refusal is of exactly one).
STATUS_OF: dict[type[UserError], int] = {
    Invalid: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    LockedOut: 423,
    Throttled: 429,
    Unavailable: 502,
}


class ClientDisconnected(Exception):
    """The client closed the connection before its request body was complete (raised by
    ``app.web.body.ApiRequest``; logged at INFO, never as an error)."""


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        content=msgspec.to_builtins(body),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _clean(message: str) -> str:
    """msgspec's ``Expected `int` <= 5`` -> ``expected int <= 5``."""
    message = message.replace("`", "").strip()
    return message[:1].lower() + message[1:]


def _part(key: Any, raw: str) -> str:
    """One offending field as ``key: message`` from msgspec's wording (its ``- at `$.x```
    path wins over Litestar's key; a missing field says so)."""
    message = _clean(raw)
    path = re.search(r"- at `\$\.?([^`]*)`", raw)
    if path and path.group(1):
        key = path.group(1)
        message = _clean(raw.split(" - at ")[0])
    if key in (None, "", "body"):
        # msgspec phrases missing fields as "Object missing required field `x`".
        missing = re.search(r"missing required field `([^`]+)`", raw)
        return f"{missing.group(1)}: this field is required" if missing else message
    return f"{key}: {message}"


def body_detail(error: msgspec.ValidationError) -> str:
    """The sentence for a JSON body that does not match its type (``app.web.body``)."""
    return "Invalid request: " + _part(None, str(error))


def validation_detail(exc: ValidationException) -> str:
    """A sentence naming the offending field(s) from Litestar's validation extra."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    parts: list[str] = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        if item.get("source") == "body" and item.get("message") == f"'{item.get('key')}'":
            # Litestar's word for "no body at all" is the KeyError of the missing argument.
            return EMPTY_BODY
        parts.append(_part(item.get("key"), str(item.get("message", "invalid value"))))
    if not parts:
        return (
            "The request body is not valid JSON."
            if _looks_like_decode_error(exc)
            else ("The request is invalid.")
        )
    return "Invalid request: " + "; ".join(parts)


EMPTY_BODY = "The request body is empty; send a JSON object."

_DECODE_HINTS = re.compile(r"json|truncated|invalid character|decode|trailing characters", re.I)


def _looks_like_decode_error(exc: ValidationException) -> bool:
    return bool(_DECODE_HINTS.search(str(exc.detail or "")))


def status_of(exc: UserError) -> int:
    """The HTTP status of a refusal (400 for a refusal of no known kind)."""
    for kind, status in STATUS_OF.items():
        if isinstance(exc, kind):
            return status
    return 400


def user_error_handler(_: Request[Any, Any, Any], exc: UserError) -> Response[Any]:
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Throttled) else None
    return _json(status_of(exc), {"detail": exc.message, **exc.extra()}, headers)


def ssh_error_handler(_: Request[Any, Any, Any], exc: SshError) -> Response[Any]:
    """A Spark could not be reached or its command failed: the transport's sentence, 502."""
    return _json(502, {"detail": exc.message})


def validation_error_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    return _json(400, {"detail": validation_detail(exc)})


_STATUS_SENTENCES = {
    400: "The request is invalid.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
}


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == 413:
        detail = "The request body is too large."
    elif status == 400 and _DECODE_HINTS.search(str(exc.detail or "")):
        detail = f"The request body is not valid JSON: {_clean(str(exc.detail))}."
    elif isinstance(exc, NotFoundException) and exc.detail in ("", "Not Found", None):
        detail = f"No such resource: {request.url.path[:200]}"
    else:
        detail = str(exc.detail) if exc.detail else _STATUS_SENTENCES.get(status, "Request failed.")
    if status >= 500:
        log.error("HTTP %d on %s %s", status, request.method, request.url.path)
        detail = "Internal error."
    return _json(status, {"detail": detail}, headers=getattr(exc, "headers", None))


def client_disconnected_handler(request: Request[Any, Any, Any], _exc: Exception) -> Response[Any]:
    """The client left mid-body: nothing went wrong here, and nobody reads the answer."""
    log.info("client closed the connection while sending %s %s", request.method, request.url.path)
    return _json(400, {"detail": "The request body was not received completely."})


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _json(HTTP_500_INTERNAL_SERVER_ERROR, {"detail": "Internal error."})


def exception_handlers() -> dict[Any, Any]:
    return {
        UserError: user_error_handler,
        SshError: ssh_error_handler,
        ClientDisconnected: client_disconnected_handler,
        ValidationException: validation_error_handler,
        HTTPException: http_error_handler,
        Exception: internal_error_handler,
    }
