"""The bytes a swap puts into client traffic: which model a request names, and how a request
that a swap's drain cuts is ended.

A cut stream ends with one OpenAI-shaped SSE error event and ``data: [DONE]`` (the OpenAI SDKs
raise an ``APIError`` carrying the message on an ``error`` event, rather than returning a
silently truncated answer); a request cut before its response head gets :data:`SWAP_CUT`
as a 503.
"""

from __future__ import annotations

import msgspec

from app.proxy.policy import Refusal

SWAP_CUT = Refusal(
    503, "the model is being swapped", "service_unavailable", "model_swapping", retry_after=None
)
SWAP_CUT_EVENT = (
    b"data: "
    + msgspec.json.encode(
        {"error": {"message": SWAP_CUT.message, "type": SWAP_CUT.type, "code": SWAP_CUT.code}}
    )
    + b"\n\ndata: [DONE]\n\n"
)


class _Named(msgspec.Struct):
    model: str | None = None


_decode_named = msgspec.json.Decoder(_Named).decode


def requested_model(body: bytes | None) -> str | None:
    """The ``model`` a JSON request body names, or None (no body, not JSON, no model)."""
    if not body:
        return None
    try:
        return _decode_named(body).model
    except msgspec.DecodeError:  # ValidationError included: the backend answers the 400
        return None
