"""Weights downloads: start one per model, list, inspect, stream, cancel; verify a model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import Parameter, QueryParameter
from litestar.response import ServerSentEvent

from app.catalog.models import MODEL_KEY
from app.downloads import Download, ModelVerification
from app.errors import NotConfigured
from app.web.deps import Rt
from app.web.responses import error_responses
from app.web.sse import EVENT_STREAM, heartbeat, last_event_id, message, sse_response

DOWNLOAD_ID = r"^[a-f0-9]{8}$"
ModelKey = Annotated[str, Parameter(pattern=MODEL_KEY, description="A model key from the catalog.")]
DownloadId = Annotated[str, Parameter(pattern=DOWNLOAD_ID, description="The download id.")]


class DownloadList(msgspec.Struct, frozen=True):
    downloads: list[Download]


@post(
    "/api/models/{key:str}/download",
    status_code=202,
    tags=["downloads"],
    responses=error_responses(400, 404, 409),
    sync_to_thread=False,
)
def start_download(
    key: ModelKey,
    rt: Rt,
    then_swap: Annotated[
        bool, QueryParameter(name="then_swap", description="Swap to the model once verified.")
    ] = False,
) -> Download:
    """Download the model's weights to every Spark (once from the hub onto the head, then
    copied to the others) and verify them; ``?then_swap=true`` swaps to the model once done.
    409 while a download of the model runs (the body names it); 400 for a local model."""
    return rt.downloads.start(key, then_swap=then_swap)


@post(
    "/api/models/{key:str}/verify",
    status_code=200,
    tags=["downloads"],
    responses=error_responses(400, 404, 409, 502),
)
async def verify_model(key: ModelKey, rt: Rt) -> ModelVerification:
    """Check the model's weights on every Spark: every planned file present at its size, and
    each LFS blob's sha256 computed on the node. Changes nothing."""
    rt.downloads.model(key)
    if not rt.config.configured:
        raise NotConfigured()
    return await rt.downloads.verify(key)


@get("/api/downloads", tags=["downloads"], sync_to_thread=False)
def list_downloads(rt: Rt) -> DownloadList:
    """Recent downloads, newest first (bounded; in memory only)."""
    return DownloadList(downloads=[d.view() for d in rt.downloads.history.newest_first()])


@get(
    "/api/downloads/{download_id:str}",
    tags=["downloads"],
    responses=error_responses(400, 404),
    sync_to_thread=False,
)
def get_download(download_id: DownloadId, rt: Rt) -> Download:
    """One download."""
    return rt.downloads.job(download_id).view()


@get(
    "/api/downloads/{download_id:str}/stream",
    tags=["downloads"],
    media_type=EVENT_STREAM,
    responses=error_responses(400, 404),
    sync_to_thread=False,
)
def stream_download(
    download_id: DownloadId, rt: Rt, request: Request[Any, Any, Any]
) -> ServerSentEvent:
    """Server-Sent Events for one download: ``state`` (the download, with progress) and ``log``
    (``{node, line}``); ends after the terminal state. ``Last-Event-ID`` resumes."""
    job = rt.downloads.job(download_id)
    after = last_event_id(request)

    async def events() -> AsyncIterator[Any]:
        async for event in job.follow(after):
            yield heartbeat() if event is None else message(event.event, event.data, event.id)

    return sse_response(events())


@post(
    "/api/downloads/{download_id:str}/cancel",
    status_code=202,
    tags=["downloads"],
    responses=error_responses(400, 404, 409),
    sync_to_thread=False,
)
def cancel_download(download_id: DownloadId, rt: Rt) -> Download:
    """Cancel a download: its remote processes stop on every Spark; partial files stay, so
    the next download resumes them."""
    return rt.downloads.cancel(download_id)


HANDLERS = [
    start_download,
    verify_model,
    list_downloads,
    get_download,
    stream_download,
    cancel_download,
]
