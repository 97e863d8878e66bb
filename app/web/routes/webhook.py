"""``POST /api/webhook/test`` (send a signed ``test`` event now and show the receiver's answer)
and ``GET /api/webhook/deliveries`` (the recent deliveries the history recorded)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import get, post
from litestar.params import QueryParameter

from app.coordination.webhook import TestResult
from app.errors import Conflict
from app.storage import Delivery
from app.web.deps import Rt
from app.web.responses import error_responses


class Deliveries(msgspec.Struct, frozen=True):
    configured: bool
    target: str | None
    events: list[str]
    retries: int
    deliveries: list[Delivery]


@post("/api/webhook/test", status_code=200, tags=["coordination"], responses=error_responses(409))
async def send_test(rt: Rt) -> TestResult:
    """Send a signed ``test`` event to the webhook URL now (one attempt, 5 s at most) and
    answer with what the receiver said: ``delivered``, ``status``, ``latency_ms``, ``error``
    and the first 500 characters of its ``response``. 409 when no URL is configured."""
    if not rt.webhook.enabled:
        raise Conflict("No webhook URL is configured — set one in Configure Sparks.")
    return await rt.webhook.send_test()


Limit = Annotated[int, QueryParameter(ge=1, le=200, description="How many (1-200).")]


@get("/api/webhook/deliveries", tags=["coordination"], responses=error_responses(400))
async def deliveries(rt: Rt, limit: Limit = 20) -> Deliveries:
    """The newest webhook deliveries, newest first (kept across restarts), with what is
    configured: the receiver's scheme://host:port (never its path), the selected events."""
    webhook = rt.webhook
    return Deliveries(
        configured=webhook.enabled,
        target=webhook.target() if webhook.enabled else None,
        events=sorted(webhook.events),
        retries=webhook.retries,
        deliveries=await rt.storage.deliveries.recent(limit),
    )


HANDLERS = [send_test, deliveries]
