"""The HTTP layer: the only package that imports Litestar."""

from app.web.app import create_app

__all__ = ["create_app"]
