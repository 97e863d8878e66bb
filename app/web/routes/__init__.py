"""Route handlers, one module per area; ``route_handlers()`` lists them all for the app."""

from __future__ import annotations

from typing import Any


def route_handlers() -> list[Any]:
    from app.web.routes import health, lock, metrics, models, openapi, schedule, status, swap

    return [
        *health.HANDLERS,
        *lock.HANDLERS,
        *swap.HANDLERS,
        *models.HANDLERS,
        *schedule.HANDLERS,
        *status.HANDLERS,
        *metrics.HANDLERS,
        *openapi.HANDLERS,
    ]
