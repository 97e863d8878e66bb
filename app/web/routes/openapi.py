"""``GET /openapi.json``: the OpenAPI schema of every route (built once, then served)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get


@get("/openapi.json", include_in_schema=False, sync_to_thread=False)
def openapi_json(request: Request[Any, Any, Any]) -> Response[Any]:
    """The OpenAPI 3.1 document describing every API route."""
    cached = request.app.state.get("openapi_document")
    if cached is None:
        cached = request.app.openapi_schema.to_schema()
        request.app.state.openapi_document = cached
    return Response(cached, media_type="application/json")


HANDLERS = [openapi_json]
