"""``/api/swap``: start, list, inspect, stream, cancel and validate swaps (API.md "Swaps").

The list pages through the persistent history (``limit``, ``before``); a job this process runs
is shown live from memory, older ones as the database saved them. Each job carries its
``origin`` — who asked — taken from the request: ``X-Spark-Client: dashboard`` (sent by the
dashboard), ``X-Spark-Schedule: <schedule id>`` (a scheduler naming its registered schedule),
otherwise an API client with its address and User-Agent; the engine adds the lock holder."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import HeaderParameter, JSONBody, Parameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from app.catalog.models import MODEL_KEY
from app.swap.errors import JobNotFound
from app.swap.jobs import Job, Origin
from app.swap.preflight import Validation
from app.web.deps import Rt
from app.web.hosts import ProxyTrust
from app.web.responses import error_responses
from app.web.routes.lock import TOKEN_HEADER
from app.web.sse import EVENT_STREAM, heartbeat, last_event_id, message, sse_response

JOB_ID = r"^[a-f0-9]{8}$"
SCHEDULE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CLIENT_HEADER = "X-Spark-Client"
SCHEDULE_HEADER = "X-Spark-Schedule"
USER_AGENT_CHARS = 200
DEFAULT_PAGE = 50
MAX_PAGE = 500


class SwapRequest(msgspec.Struct):
    model_key: Annotated[str, msgspec.Meta(pattern=MODEL_KEY)]
    dry_run: bool = False


class JobList(msgspec.Struct, frozen=True):
    jobs: list[Job]
    next_before: str | None = None  # pass as ``before`` for the next (older) page


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
def start_swap(
    data: JSONBody[SwapRequest],
    rt: Rt,
    request: Request[Any, Any, Any],
    token_header: TokenHeader = None,
) -> Job:
    """Start swapping the cluster to ``model_key``; poll or stream the returned job.

    While the swap lock is held, a real swap needs the lock token (header). A dry run lists the
    commands a real swap would run, runs none, and is never blocked by the lock."""
    return rt.engine.start(
        data.model_key, dry_run=data.dry_run, token=token_header, origin=origin_of(request)
    )


def _printable(text: str | None, limit: int) -> str | None:
    """``text`` without control characters, clipped; None when nothing is left."""
    if not text:
        return None
    cleaned = "".join(c for c in text if c.isprintable())[:limit].strip()
    return cleaned or None


def origin_of(request: Request[Any, Any, Any]) -> Origin:
    """Who is asking, as far as the request says (descriptive, never trusted for access); the
    client address is resolved through the trusted proxies (``ProxyTrust.client_address``)."""
    trust: ProxyTrust = request.app.state.proxy_trust
    client = trust.client_address(request.scope) if request.client else None
    agent = _printable(request.headers.get("user-agent"), USER_AGENT_CHARS)
    schedule = request.headers.get(SCHEDULE_HEADER.lower())
    if schedule and SCHEDULE_ID.fullmatch(schedule):
        return Origin(kind="schedule", client=client, user_agent=agent, schedule_id=schedule)
    if request.headers.get(CLIENT_HEADER.lower()) == "dashboard":
        return Origin(kind="dashboard", client=client, user_agent=agent)
    return Origin(kind="api", client=client, user_agent=agent)


Limit = Annotated[
    int,
    QueryParameter(ge=1, le=MAX_PAGE, description=f"Jobs per page (1-{MAX_PAGE})."),
]
Before = Annotated[
    str | None,
    QueryParameter(
        required=False,
        pattern=JOB_ID,
        description="A job id: the page holds the jobs that started before it.",
    ),
]

_job_decoder = msgspec.json.Decoder(Job)


@get("/api/swap", tags=["swap"], responses=error_responses(400, 404))
async def list_jobs(rt: Rt, limit: Limit = DEFAULT_PAGE, before: Before = None) -> JobList:
    """Swap jobs, newest first, ``limit`` at a time; ``next_before`` (when there may be more)
    is the ``before`` of the next page. The history survives restarts."""
    rows = await rt.storage.swaps.page(limit, before)
    if rows is None:
        raise JobNotFound(before or "")
    jobs = []
    for raw in rows:
        job = _job_decoder.decode(raw)
        live = rt.engine.history.get(job.job_id)
        jobs.append(live.view() if live is not None else job)
    next_before = jobs[-1].job_id if len(jobs) == limit else None
    return JobList(jobs=jobs, next_before=next_before)


@get("/api/swap/{job_id:str}", tags=["swap"], responses=error_responses(400, 404))
async def get_job(job_id: JobId, rt: Rt) -> Job:
    """One swap job (from this run, or from the history)."""
    live = rt.engine.history.get(job_id)
    if live is not None:
        return live.view()
    raw = await rt.storage.swaps.get(job_id)
    if raw is None:
        raise JobNotFound(job_id)
    return _job_decoder.decode(raw)


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

    return sse_response(events(), closing=rt.closing)


@post(
    "/api/swap/{job_id:str}/cancel",
    status_code=202,
    tags=["swap"],
    responses=error_responses(400, 404, 409, 423),
    sync_to_thread=False,
)
def cancel_job(job_id: JobId, rt: Rt, token_header: TokenHeader = None) -> Job:
    """Cancel a running swap; the cluster is left stopped and the job ends ``cancelled``.

    While the swap lock is held, a cancel needs the lock token (header), like a swap: 423
    otherwise. A repeated cancel returns the same job."""
    return rt.engine.cancel(job_id, token=token_header)


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
