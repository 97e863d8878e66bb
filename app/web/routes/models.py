"""``/api/models``: list the catalog, add user models, edit knobs, remove models and weights."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import delete, get, post, put
from litestar.params import JSONBody, Parameter

from app.catalog.disk import DiskDeletion
from app.catalog.local_paths import validate_local_path
from app.catalog.models import MODEL_KEY, Knobs, ModelDef
from app.downloads import Download, NotDownloadable, WeightsDownloading
from app.errors import UnknownModel
from app.runtime import Runtime
from app.storage import ModelStats
from app.swap import weights
from app.web.deps import Rt
from app.web.responses import error_responses

ModelKey = Annotated[str, Parameter(pattern=MODEL_KEY, description="A model key from the catalog.")]


class ModelView(msgspec.Struct, frozen=True):
    key: str
    name: str
    repo: str | None
    local_path: str | None
    local: bool
    knobs: Knobs
    source: str
    running: bool
    on_disk: dict[str, int | None]
    # per Spark: complete | partial | absent (measured against the last verified download's
    # plan) or present | absent when no download of this model was verified yet
    weights: dict[str, str] = msgspec.field(default_factory=dict)
    # the model's most recent download job, if any (running or finished)
    download: Download | None = None


class AddModel(ModelDef, frozen=True, forbid_unknown_fields=True):
    """A model to add; ``download: true`` starts downloading its weights at once (and
    ``then_swap: true`` swaps to it when they are verified)."""

    download: bool = False
    then_swap: bool = False

    def model(self) -> ModelDef:
        return ModelDef(**{f: getattr(self, f) for f in ModelDef.__struct_fields__})


class ModelList(msgspec.Struct, frozen=True):
    models: list[ModelView]


class Deleted(msgspec.Struct, frozen=True):
    deleted: bool
    key: str


def _weights(rt: Runtime, model: ModelDef, on_disk: dict[str, int | None]) -> dict[str, str]:
    plan = rt.downloads.manifests.get(model.key) if model.repo else None
    total = plan.total_bytes if plan is not None and plan.repo == model.repo else None
    states = {}
    for node, size in on_disk.items():
        if size is None:
            states[node] = "absent"
        elif total is None:
            states[node] = "present"
        else:  # du counts whole blocks: a complete copy is never below the plan's bytes
            states[node] = "complete" if size >= total else "partial"
    return states


def view(rt: Runtime, model: ModelDef) -> ModelView:
    running = rt.served.current
    on_disk = rt.disk.on_disk(model.key)
    latest = next(
        (d for d in rt.downloads.history.newest_first() if d.model_key == model.key), None
    )
    return ModelView(
        key=model.key,
        name=model.display_name,
        repo=model.repo,
        local_path=model.local_path,
        local=model.local,
        knobs=model.knobs,
        source=rt.catalog().source(model.key),
        running=running.key == model.key and running.serving,
        on_disk=on_disk,
        weights=_weights(rt, model, on_disk),
        download=latest.view() if latest is not None else None,
    )


@get("/api/models", tags=["models"], sync_to_thread=False)
def list_models(rt: Rt) -> ModelList:
    """Every model; ``running`` marks the one the head serves, ``on_disk`` the weights' size
    per Spark in bytes (null: absent or not scanned yet)."""
    return ModelList(models=[view(rt, m) for m in rt.catalog().models])


@post("/api/models", status_code=201, tags=["models"], responses=error_responses(400, 409, 413))
async def add_model(data: JSONBody[AddModel], rt: Rt) -> ModelView:
    """Add a model: exactly one of ``repo`` (Hugging Face) or ``local_path`` (a directory under
    a model root that exists, with a config.json, on every Spark). ``download: true`` (repo
    models) starts downloading its weights to every Spark; the answer's ``download`` is that
    job."""
    if (data.download or data.then_swap) and data.repo is None:
        raise NotDownloadable()
    if data.local_path is not None:
        await validate_local_path(
            rt.ssh,
            [s.name for s in rt.config.sparks],
            data.local_path,
            rt.config.models.local_roots,
        )
    model = await rt.catalog_manager.add(data.model())
    if data.download or data.then_swap:
        rt.downloads.start(model.key, then_swap=data.then_swap)
    return view(rt, model)


@put("/api/models/{key:str}/knobs", tags=["models"], responses=error_responses(400, 404, 409, 413))
async def set_knobs(key: ModelKey, data: JSONBody[Knobs], rt: Rt) -> ModelView:
    """Replace a model's vLLM knobs; they apply from the next swap (and show in dry runs)."""
    return view(rt, await rt.catalog_manager.set_knobs(key, data))


@delete(
    "/api/models/{key:str}",
    status_code=200,
    tags=["models"],
    responses=error_responses(400, 404, 409),
)
async def remove_model(key: ModelKey, rt: Rt) -> Deleted:
    """Remove a user-added model from the catalog (its weights stay; see ``/disk``)."""
    await rt.catalog_manager.remove(key)
    return Deleted(deleted=True, key=key)


@delete(
    "/api/models/{key:str}/disk",
    status_code=200,
    tags=["models"],
    responses=error_responses(400, 404, 409),
)
async def delete_weights(key: ModelKey, rt: Rt) -> DiskDeletion:
    """Delete the model's weights from every Spark's HF cache and report what each freed.
    Refused for local models, the running model, and while a swap runs."""
    active = rt.downloads.history.active_for(key)
    if active is not None:
        raise WeightsDownloading(key, active.download_id)
    return await weights.delete_weights(key, catalog=rt.catalog(), served=rt.served, disk=rt.disk)


@get("/api/models/{key:str}/stats", tags=["models"], responses=error_responses(400, 404))
async def model_stats(key: ModelKey, rt: Rt) -> ModelStats:
    """How long swaps to this model take, from its last 50 successful real swaps in the
    history: ``total`` (start to ready) and ``loading`` median / p90 seconds, and each phase's;
    nulls until there is a sample."""
    if rt.catalog().get(key) is None:
        raise UnknownModel(key)
    return await rt.storage.swaps.stats(key)


HANDLERS = [list_models, add_model, set_knobs, remove_model, delete_weights, model_stats]
