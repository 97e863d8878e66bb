"""``/api/swap/lock``: acquire/extend, status, release (coordination seed §1)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import delete, get, post
from litestar.params import HeaderParameter, JSONBody, QueryParameter

from app.cluster.commands import refuse_control_chars
from app.coordination.lock import LockGrant, LockStatus
from app.web.deps import Rt
from app.web.responses import error_responses

HOLDER_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"
TOKEN_HEADER = "X-Swap-Lock-Token"  # noqa: S105 - a header name, not a secret

TokenHeader = Annotated[
    str | None,
    HeaderParameter(
        name=TOKEN_HEADER, required=False, max_length=256, description="The lock token."
    ),
]


class LockRequest(msgspec.Struct):
    """Acquire (or, with the token, extend) the swap lock."""

    holder: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=HOLDER_PATTERN)]
    ttl_seconds: int | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    token: Annotated[str, msgspec.Meta(max_length=256)] | None = None

    def __post_init__(self) -> None:
        # "cron\n" would pass the pattern, then be shown, logged and compared as a holder
        # other than "cron".
        refuse_control_chars(self, "holder")


@post(
    "/api/swap/lock",
    status_code=200,
    tags=["coordination"],
    responses=error_responses(400, 403, 409, 413),
    sync_to_thread=False,
)
def acquire_lock(
    data: JSONBody[LockRequest], rt: Rt, token_header: TokenHeader = None
) -> LockGrant:
    """Acquire the swap lock, or extend your own by presenting its token.

    The token in the answer is a secret: it authorises swaps and the release."""
    return rt.lock.acquire(
        data.holder,
        ttl_seconds=data.ttl_seconds,
        note=data.note,
        token=token_header or data.token,
    )


@get("/api/swap/lock", tags=["coordination"], sync_to_thread=False)
def lock_status(rt: Rt) -> LockStatus:
    """Who holds the swap lock and until when; never the token."""
    return rt.lock.status()


@delete(
    "/api/swap/lock",
    status_code=200,
    tags=["coordination"],
    responses=error_responses(400, 403),
    sync_to_thread=False,
)
def release_lock(
    rt: Rt,
    token_header: TokenHeader = None,
    token: Annotated[
        str | None, QueryParameter(name="token", required=False, max_length=256)
    ] = None,
    force: Annotated[
        bool, QueryParameter(name="force", description="Release without a token (human override).")
    ] = False,
) -> LockStatus:
    """Release the swap lock with its token, or with ``force=true`` without one."""
    return rt.lock.release(token_header or token, force=force)


HANDLERS = [acquire_lock, lock_status, release_lock]
