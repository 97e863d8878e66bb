"""Request bodies: every malformed JSON body is the client's error (400), never a 500.

Litestar decodes a JSON body with msgspec and maps msgspec's own decode errors to 400, but two
failures escape that mapping: invalid UTF-8 inside a string (``UnicodeDecodeError``) and deep
nesting (``RecursionError``, at about a thousand levels). :class:`ApiRequest` is the app's
request class; its ``json()`` refuses both up front, with one sentence:

* the body must be UTF-8;
* arrays and objects may nest at most :data:`MAX_JSON_DEPTH` levels (no API body needs more
  than four; the cap also bounds the decoder's work on a hostile body);
* values must have the JSON types the handler's ``data`` Struct declares (``0`` is not a
  boolean, ``"5"`` not a number): Litestar alone would coerce them.

The checks are linear in the body size, which the app already caps (1 MiB).

A client that goes away in the middle of its body is not a server error either: ``stream()``
raises :class:`ClientDisconnected` (logged at INFO by the error mapping) instead of Litestar's
``InternalServerException``, which would be logged as an HTTP 500.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from itertools import accumulate
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import InternalServerException

from app.errors import Invalid
from app.web.errors import ClientDisconnected, body_detail

MAX_JSON_DEPTH = 32

# A JSON string literal (escapes included): brackets inside strings do not nest.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays/objects in ``body`` (0 for a scalar). Malformed JSON gives
    some number; the decoder then reports the malformation itself."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def json_body_problem(body: bytes) -> str | None:
    """Why ``body`` must be refused before it is decoded, as one sentence; None when fine."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "The request body is not valid UTF-8."
    if json_depth(body) > MAX_JSON_DEPTH:
        return f"The request body nests deeper than {MAX_JSON_DEPTH} levels."
    return None


# Litestar's detail for an ``http.disconnect`` received while the body is being read.
_DISCONNECTED = "client disconnected prematurely"


class ApiRequest(Request[Any, Any, Any]):
    """The app's request class: ``json()`` refuses a malformed body (``Invalid``, a 400)."""

    async def stream(self) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in super().stream():
                yield chunk
        except InternalServerException as exc:
            if exc.detail == _DISCONNECTED:
                raise ClientDisconnected() from None
            raise

    async def json(self) -> Any:
        problem = json_body_problem(await self.body())
        if problem:
            raise Invalid(problem)
        try:
            data = await super().json()
        except (RecursionError, UnicodeDecodeError):  # defence in depth: never a 500
            raise Invalid("The request body is not valid JSON.") from None
        self._check_types(await self.body())
        return data

    def _check_types(self, body: bytes) -> None:
        """Refuse a body whose values have the wrong JSON types for the handler's ``data``
        type. Litestar converts ``data`` leniently (``strict=False``, because query strings
        are text), so ``{"dry_run": 0}`` would pass as ``false`` and ``"5"`` as 5; the API's
        schema promises JSON types, so the body is decoded strictly here first."""
        field = self.route_handler.parsed_fn_signature.parameters.get("data")
        if field is None or not _is_struct(field.annotation):
            return
        try:
            msgspec.json.decode(body, type=field.annotation, strict=True)
        except msgspec.ValidationError as err:
            raise Invalid(body_detail(err)) from None
        except msgspec.DecodeError:
            return  # malformed JSON: Litestar's own decode already said so


def _is_struct(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)
