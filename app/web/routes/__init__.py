"""Route handlers, one module per area; ``route_handlers()`` lists them all for the app."""

from __future__ import annotations

from typing import Any


def route_handlers() -> list[Any]:
    from app.web.routes import (
        dashboard,
        events,
        health,
        lock,
        logs,
        metrics,
        models,
        openapi,
        proxy,
        schedule,
        services,
        status,
        swap,
    )

    return [
        *health.HANDLERS,
        *lock.HANDLERS,
        *swap.HANDLERS,
        *models.HANDLERS,
        *schedule.HANDLERS,
        *status.HANDLERS,
        *services.HANDLERS,
        *logs.HANDLERS,
        *events.HANDLERS,
        *metrics.HANDLERS,
        *openapi.HANDLERS,
        *proxy.HANDLERS,
        *dashboard.HANDLERS,
    ]
