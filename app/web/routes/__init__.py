"""Route handlers, one module per area; ``route_handlers()`` lists them all for the app."""

from __future__ import annotations

from typing import Any


def route_handlers() -> list[Any]:
    from app.web.routes import health, lock, openapi, schedule, status

    return [
        *health.HANDLERS,
        *lock.HANDLERS,
        *schedule.HANDLERS,
        *status.HANDLERS,
        *openapi.HANDLERS,
    ]
