"""``/api/schedule``: the read-only schedule registry (coordination seed §3)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import delete, get, post
from litestar.params import JSONBody, Parameter

from app.coordination.schedule import SCHEDULE_ID, Schedule, ScheduleIn, ScheduleList
from app.web.deps import Rt
from app.web.responses import error_responses


class Deleted(msgspec.Struct, frozen=True):
    deleted: bool


@post(
    "/api/schedule",
    status_code=200,
    tags=["coordination"],
    responses=error_responses(400, 409, 413),
    sync_to_thread=False,
)
def register_schedule(data: JSONBody[ScheduleIn], rt: Rt) -> Schedule:
    """Register a schedule, or update it in place by re-registering its ``id``."""
    return rt.schedules.register(data)


@get("/api/schedule", tags=["coordination"], sync_to_thread=False)
def list_schedules(rt: Rt) -> ScheduleList:
    """Every registered schedule. Spark Control only displays them; it runs nothing."""
    return ScheduleList(schedules=rt.schedules.list())


@delete(
    "/api/schedule/{schedule_id:str}",
    status_code=200,
    tags=["coordination"],
    responses=error_responses(400, 404),
    sync_to_thread=False,
)
def delete_schedule(
    rt: Rt,
    schedule_id: Annotated[str, Parameter(pattern=SCHEDULE_ID, description="The schedule id.")],
) -> Deleted:
    """Deregister a schedule."""
    rt.schedules.delete(schedule_id)
    return Deleted(deleted=True)


HANDLERS = [register_schedule, list_schedules, delete_schedule]
