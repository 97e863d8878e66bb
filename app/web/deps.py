"""Dependency markers for route handlers."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency

from app.runtime import Runtime

# Route handlers take ``rt: Rt``: the app's Runtime, injected by name.
Rt: TypeAlias = NamedDependency[Runtime]
