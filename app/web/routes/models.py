"""``/api/models``: the catalog as the dashboard and clients see it."""

from __future__ import annotations

import msgspec
from litestar import get

from app.catalog.models import Knobs
from app.web.deps import Rt


class ModelView(msgspec.Struct, frozen=True):
    key: str
    name: str
    repo: str | None
    local_path: str | None
    local: bool
    knobs: Knobs
    source: str
    running: bool


class ModelList(msgspec.Struct, frozen=True):
    models: list[ModelView]


@get("/api/models", tags=["models"], sync_to_thread=False)
def list_models(rt: Rt) -> ModelList:
    """Every model of the catalog; ``running`` marks the one the head serves."""
    catalog = rt.catalog()
    running = rt.engine.running
    return ModelList(
        models=[
            ModelView(
                key=m.key,
                name=m.display_name,
                repo=m.repo,
                local_path=m.local_path,
                local=m.local,
                knobs=m.knobs,
                source=catalog.source(m.key),
                running=running.key == m.key and running.state == "ready",
            )
            for m in catalog.models
        ]
    )


HANDLERS = [list_models]
