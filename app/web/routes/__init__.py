"""Route handlers, one module per area; ``route_handlers()`` lists them all for the app."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from litestar import HttpMethod, MediaType, Response, route
from litestar.handlers import HTTPRouteHandler


def route_handlers() -> list[Any]:
    from app.web.routes import (
        dashboard,
        downloads,
        events,
        health,
        lock,
        logs,
        metrics,
        models,
        openapi,
        schedule,
        services,
        session,
        status,
        swap,
        webhook,
    )

    handlers = [
        *health.HANDLERS,
        *lock.HANDLERS,
        *swap.HANDLERS,
        *webhook.HANDLERS,
        *models.HANDLERS,
        *downloads.HANDLERS,
        *schedule.HANDLERS,
        *session.HANDLERS,
        *status.HANDLERS,
        *services.HANDLERS,
        *logs.HANDLERS,
        *events.HANDLERS,
        *metrics.HANDLERS,
        *openapi.HANDLERS,
        *dashboard.HANDLERS,
    ]
    return [*options_handlers(handlers), *handlers]


def options_handlers(handlers: Sequence[object]) -> list[HTTPRouteHandler]:
    """An explicit ``OPTIONS`` handler for each path that several handlers share, whose
    ``Allow`` lists every method of the path.

    Litestar builds a path's automatic OPTIONS handler from the first handler registered for
    it, and keeps that one when later handlers of the same path join the route (``GET`` after
    ``POST`` on ``/api/swap/lock``): its answer would list only the first handler's methods.
    Registered first, these take the automatic handler's place."""
    methods: dict[str, set[str]] = defaultdict(set)
    handler_count: dict[str, int] = defaultdict(int)
    for handler in handlers:
        if isinstance(handler, HTTPRouteHandler):
            for path in handler.paths:
                methods[path] |= {str(m) for m in handler.http_methods}
                handler_count[path] += 1
    return [
        _options(path, frozenset(allowed | {HttpMethod.OPTIONS.value}))
        for path, allowed in methods.items()
        if handler_count[path] > 1
    ]


def _options(path: str, allowed: frozenset[str]) -> HTTPRouteHandler:
    allow = ", ".join(sorted(allowed))

    def answer() -> Response[None]:
        return Response(
            content=None, status_code=204, headers={"Allow": allow}, media_type=MediaType.TEXT
        )

    return route(
        path,
        http_method=[HttpMethod.OPTIONS],
        include_in_schema=False,
        sync_to_thread=False,
        name=f"options {path}",
    )(answer)
