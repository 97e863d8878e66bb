"""Every error a client can see is shaped here, in one place.

API errors are ``{"detail": "<sentence>", ...extra}``; the OpenAI-compatible proxy routes use
``{"error": {"message", "type", "code"}}``. No response ever carries a stack trace, an internal
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

from app.catalog.local_paths import LocalPathRefused
from app.catalog.manager import CatalogChangeError
from app.coordination.lock import LockConflict, Locked, LockForbidden
from app.coordination.schedule import RegistryFull
from app.swap.errors import JobFinished, JobNotFound, NotConfigured, SwapInProgress, UnknownModel

log = logging.getLogger("spark_control.http")


class ApiError(Exception):
    """An error with a status and a client-safe sentence, raised by route handlers."""

    def __init__(self, status_code: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.extra = extra


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


def validation_detail(exc: ValidationException) -> str:
    """A sentence naming the offending field(s) from Litestar's validation extra."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    parts: list[str] = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        key = item.get("key")
        message = _clean(str(item.get("message", "invalid value")))
        path = re.search(r"- at `\$\.?([^`]*)`", str(item.get("message", "")))
        if path and path.group(1):
            key = path.group(1)
            message = _clean(str(item["message"]).split(" - at ")[0])
        if key in (None, "", "body"):
            # msgspec phrases missing fields as "Object missing required field `x`".
            missing = re.search(r"missing required field `([^`]+)`", str(item.get("message", "")))
            if missing:
                parts.append(f"{missing.group(1)}: this field is required")
                continue
            parts.append(message)
        else:
            parts.append(f"{key}: {message}")
    if not parts:
        return (
            "The request body is not valid JSON."
            if _looks_like_decode_error(exc)
            else ("The request is invalid.")
        )
    return "Invalid request: " + "; ".join(parts)


_DECODE_HINTS = re.compile(r"json|truncated|invalid character|decode|trailing characters", re.I)


def _looks_like_decode_error(exc: ValidationException) -> bool:
    return bool(_DECODE_HINTS.search(str(exc.detail or "")))


def openai_error_body(message: str, type_: str, code: str | int) -> bytes:
    """The error body of the OpenAI-compatible proxy routes: ``{"error": {message, type, code}}``
    (the shape OpenAI SDKs parse). ``message`` must already be client-safe."""
    return msgspec.json.encode({"error": {"message": message, "type": type_, "code": code}})


def api_error_handler(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return _json(exc.status_code, {"detail": exc.detail, **exc.extra})


def lock_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, LockConflict):
        return _json(409, {"detail": exc.message, "lock": exc.status})
    if isinstance(exc, Locked):
        return _json(423, {"detail": exc.message, "lock": exc.status})
    # LockForbidden: a token was needed and not presented (or wrong).
    return _json(403, {"detail": exc.message})


def registry_full_handler(_: Request[Any, Any, Any], exc: RegistryFull) -> Response[Any]:
    return _json(409, {"detail": str(exc)})


def swap_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, SwapInProgress):
        return _json(409, {"detail": str(exc), "job_id": exc.job_id})
    status = 404 if isinstance(exc, (UnknownModel, JobNotFound)) else 409
    return _json(status, {"detail": str(exc)})


def catalog_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, CatalogChangeError):
        return _json(exc.status, {"detail": exc.message})
    return _json(400, {"detail": str(exc)})


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


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _json(HTTP_500_INTERNAL_SERVER_ERROR, {"detail": "Internal error."})


def exception_handlers() -> dict[Any, Any]:
    return {
        ApiError: api_error_handler,
        LockConflict: lock_error_handler,
        LockForbidden: lock_error_handler,
        Locked: lock_error_handler,
        RegistryFull: registry_full_handler,
        CatalogChangeError: catalog_error_handler,
        LocalPathRefused: catalog_error_handler,
        UnknownModel: swap_error_handler,
        JobNotFound: swap_error_handler,
        JobFinished: swap_error_handler,
        NotConfigured: swap_error_handler,
        SwapInProgress: swap_error_handler,
        ValidationException: validation_error_handler,
        HTTPException: http_error_handler,
        Exception: internal_error_handler,
    }
