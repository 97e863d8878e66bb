"""``/`` and ``/static/*``: the LAN dashboard (plain HTML/CSS/JS modules, no build step).

Every response here carries a strict Content-Security-Policy: scripts, styles and connections
only from this origin, no inline script or style, no plugins, not frameable. The page never
inserts a server-provided string as HTML, so the policy is a second line of defence, not the
first. ``Cache-Control: no-cache`` makes browsers revalidate, so an upgrade is seen at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Response, get
from litestar.datastructures import CacheControlHeader
from litestar.response import File
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def secure(response: Response[Any]) -> Response[Any]:
    """``after_request`` hook: add the security headers to a dashboard response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


@get(
    "/",
    include_in_schema=False,
    sync_to_thread=False,
    after_request=secure,
    cache_control=CacheControlHeader(no_cache=True),
)
def index() -> File:
    """The dashboard page."""
    return File(
        STATIC_DIR / "index.html",
        filename="index.html",
        media_type="text/html; charset=utf-8",
        content_disposition_type="inline",
    )


static_files = create_static_files_router(
    path="/static",
    directories=[STATIC_DIR],
    after_request=secure,
    cache_control=CacheControlHeader(no_cache=True),
)

HANDLERS = [index, static_files]
