"""``/api/swap``: start, list, inspect, stream, cancel and validate swaps (API.md "Swaps")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import HeaderParameter, JSONBody, Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from app.catalog.models import MODEL_KEY
from app.swap.jobs import Job
from app.swap.preflight import Validation
from app.web.deps import Rt
from app.web.responses import error_responses
from app.web.routes.lock import TOKEN_HEADER
from app.web.sse import EVENT_STREAM, heartbeat, last_event_id, message, sse_response

JOB_ID = r"^[a-f0-9]{8}$"


class SwapRequest(msgspec.Struct):
    model_key: Annotated[str, msgspec.Meta(pattern=MODEL_KEY)]
    dry_run: bool = False


class JobList(msgspec.Struct, frozen=True):
    jobs: list[Job]


TokenHeader = Annotated[
    str | None, HeaderParameter(name=TOKEN_HEADER, required=False, max_length=256)
]
JobId = Annotated[str, Parameter(pattern=JOB_ID, description="The swap job id.")]
ModelKey = Annotated[str, Parameter(pattern=MODEL_KEY, description="A model key from the catalog.")]


@post(
    "/api/swap",
    status_code=202,
    tags=["swap"],
    responses=error_responses(400, 404, 409, 413, 423),
    sync_to_thread=False,
)
def start_swap(data: JSONBody[SwapRequest], rt: Rt, token_header: TokenHeader = None) -> Job:
    """Start swapping the cluster to ``model_key``; poll or stream the returned job.

    While the swap lock is held, a real swap needs the lock token (header). A dry run lists the
    commands a real swap would run, runs none, and is never blocked by the lock."""
    return rt.engine.start(data.model_key, dry_run=data.dry_run, token=token_header)


@get("/api/swap", tags=["swap"], sync_to_thread=False)
def list_jobs(rt: Rt) -> JobList:
    """Recent swap jobs, newest first."""
    return JobList(jobs=[job.view() for job in rt.engine.history.newest_first()])


@get(
    "/api/swap/{job_id:str}",
    tags=["swap"],
    responses=error_responses(400, 404),
    sync_to_thread=False,
)
def get_job(job_id: JobId, rt: Rt) -> Job:
    """One swap job."""
    return rt.engine.job(job_id).view()


@get(
    "/api/swap/{job_id:str}/stream",
    tags=["swap"],
    media_type=EVENT_STREAM,
    responses=error_responses(400, 404),
    sync_to_thread=False,
)
def stream_job(job_id: JobId, rt: Rt, request: Request[Any, Any, Any]) -> ServerSentEvent:
    """Server-Sent Events for one job: ``state`` (the job) and ``log`` (``{node, line}``);
    ends after the terminal state. Every event has an id; ``Last-Event-ID`` resumes."""
    job = rt.engine.job(job_id)
    after = last_event_id(request)

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        async for event in job.follow(after):
            yield heartbeat() if event is None else message(event.event, event.data, event.id)

    return sse_response(events())


@post(
    "/api/swap/{job_id:str}/cancel",
    status_code=202,
    tags=["swap"],
    responses=error_responses(400, 404, 409),
    sync_to_thread=False,
)
def cancel_job(job_id: JobId, rt: Rt) -> Job:
    """Cancel a running swap; the cluster is left stopped and the job ends ``cancelled``."""
    return rt.engine.cancel(job_id)


@post(
    "/api/swap/{model_key:str}/validate",
    status_code=200,
    tags=["swap"],
    responses=error_responses(400, 404, 409),
)
async def validate_model(model_key: ModelKey, rt: Rt) -> Validation:
    """Pre-flight checks for a swap to ``model_key``; changes nothing, never blocked by the lock."""
    return await rt.engine.validate(model_key)


HANDLERS = [start_swap, list_jobs, get_job, stream_job, cancel_job, validate_model]
