"""OpenAPI descriptions of the error answers, so the published schema is complete and honest."""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from app.coordination.lock import LockStatus

_DESCRIPTIONS = {
    400: "Malformed JSON or a field that fails validation; `detail` names the field.",
    401: "API keys are configured and the request did not present a valid one.",
    403: "Refused: wrong or missing token, or a cross-site browser request.",
    404: "No such resource.",
    409: "Conflict with the current state; `detail` says which.",
    413: "The request body is over the limit.",
    423: "The swap lock is held and the request did not present its token.",
    429: "Too many failed API key attempts from this address; `Retry-After` says when to retry.",
    502: "A Spark or backend could not be reached.",
    503: "Not available right now; retry later.",
}


class ErrorBody(msgspec.Struct, omit_defaults=True):
    detail: str
    lock: LockStatus | None = None
    job_id: str | None = None


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    return {
        code: ResponseSpec(
            data_container=ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False
        )
        for code in codes
    }
