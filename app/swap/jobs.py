"""Swap jobs: their states, what the API shows of them, and each job's own event log.

A job moves ``queued → running → ready | failed | cancelled``; while running its ``phase`` is one
of ``preflight → stopping → launching → loading → verifying`` and ``progress`` only grows.
Each job keeps a bounded log of numbered events (``state`` snapshots and ``log`` lines) that
SSE streams replay from any ``Last-Event-ID`` and then follow live.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec

from app.clock import Clock, isoformat
from app.coordination.webhook import RolledBack
from app.eventlog import BoundedHistory, EventLog, LogEvent


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.READY, JobState.FAILED, JobState.CANCELLED)


# The only moves a job may make. A queued job can end without ever running (cancelled, or the
# app stopped, before the swap task took its first step); a terminal state is final.
ALLOWED_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.FAILED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.READY, JobState.FAILED, JobState.CANCELLED}),
    JobState.READY: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A job was asked to make a move its state machine forbids (a bug, never user input)."""


class Phase(enum.StrEnum):
    PREFLIGHT = "preflight"
    STOPPING = "stopping"
    LAUNCHING = "launching"
    LOADING = "loading"
    VERIFYING = "verifying"
    ROLLING_BACK = "rolling_back"  # the swap failed; the previous model is being relaunched


OriginKind = Literal["dashboard", "api", "lock", "schedule", "swap_on_request", "watchdog"]


class Origin(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who asked for a swap: the dashboard, an API client (its address and user agent), the
    holder of the swap lock, a registered schedule, a proxied request that named a model
    (``swap_on_request``) or the watchdog. Descriptive only: it authorises nothing."""

    kind: OriginKind
    client: str | None = None
    user_agent: str | None = None
    holder: str | None = None
    schedule_id: str | None = None


class PhaseTimings(msgspec.Struct, frozen=True):
    """Seconds spent in each phase (null: the job never entered it), and milestones counted
    from the job's start: the head's port answered HTTP, ``/health`` said ready, the first
    token came back. ``total_s`` is start to finish (null while running)."""

    preflight_s: float | None = None
    draining_s: float | None = None
    stopping_s: float | None = None
    launching_s: float | None = None
    loading_s: float | None = None
    verifying_s: float | None = None
    port_open_s: float | None = None
    http_ready_s: float | None = None
    first_token_s: float | None = None
    total_s: float | None = None


PHASE_FIELDS = ("preflight", "draining", "stopping", "launching", "loading", "verifying")
MILESTONES = ("port_open", "http_ready", "first_token")


class PlannedCommand(msgspec.Struct, frozen=True):
    """A command a swap runs (or, for a dry run, would run) on one Spark."""

    node: str
    command: str


class Job(msgspec.Struct, frozen=True, omit_defaults=True):
    """The API view of a swap job."""

    job_id: str
    model_key: str
    dry_run: bool
    state: JobState
    phase: Phase | None
    progress: float
    started_at: str
    finished_at: str | None
    returncode: int | None
    error: str | None
    timings: PhaseTimings
    origin: Origin
    log_tail: list[str] = msgspec.field(default_factory=list)
    commands: list[PlannedCommand] | msgspec.UnsetType = msgspec.UNSET
    held_requests: int = 0  # /v1 requests waiting for this swap's model
    rolled_back_to: RolledBack | None = None  # a failed swap relaunched the previous model


JobEvent = LogEvent


class LogLine(msgspec.Struct, frozen=True):
    node: str
    line: str


LOG_TAIL_LINES = 20


class JobRecord:
    """The mutable job the engine drives; every change is recorded as a numbered event."""

    def __init__(
        self,
        job_id: str,
        model_key: str,
        *,
        dry_run: bool,
        clock: Clock,
        max_events: int = 5000,
        origin: Origin | None = None,
    ) -> None:
        self.job_id = job_id
        self.model_key = model_key
        self.dry_run = dry_run
        self.state = JobState.QUEUED
        self.phase: Phase | None = None
        self.progress = 0.0
        self.started_at = isoformat(clock.now())
        self.started_mono = clock.monotonic()
        self.finished_at: str | None = None
        self.finished_mono: float | None = None
        self.held_requests = 0
        self.rolled_back_to: RolledBack | None = None
        self.returncode: int | None = None
        self.error: str | None = None
        self.commands: list[PlannedCommand] | None = None
        self.origin = origin or Origin(kind="api")
        self.cancel_requested = False
        self.cancel_reason: str | None = None  # "cancelled by <holder>" / "... from the dashboard"
        self.settled = False  # the engine released its guard and recorded the outcome
        self._clock = clock
        self._phase_started: float | None = None
        self._seconds: dict[str, float] = {}  # phase / milestone name -> seconds
        self.total_s: float | None = None
        self._tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self._log = EventLog(max_events)
        self.finished = asyncio.Event()
        self._record_state()

    # --- views -----------------------------------------------------------------------------

    def view(self) -> Job:
        return Job(
            job_id=self.job_id,
            model_key=self.model_key,
            dry_run=self.dry_run,
            state=self.state,
            phase=self.phase if self.state == JobState.RUNNING else None,
            progress=round(self.progress, 3),
            started_at=self.started_at,
            finished_at=self.finished_at,
            returncode=self.returncode,
            error=self.error,
            timings=self.timings(),
            origin=self.origin,
            log_tail=list(self._tail)
            if self.state.terminal and self.state != JobState.READY
            else [],
            commands=list(self.commands) if self.commands is not None else msgspec.UNSET,
            held_requests=self.held_requests if self.state == JobState.RUNNING else 0,
            rolled_back_to=self.rolled_back_to,
        )

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    def timings(self) -> PhaseTimings:
        seconds = {f"{name}_s": round(value, 3) for name, value in self._seconds.items()}
        total = round(self.total_s, 3) if self.total_s is not None else None
        known = {k: v for k, v in seconds.items() if k in PhaseTimings.__struct_fields__}
        return PhaseTimings(**known, total_s=total)

    def phase_seconds(self) -> dict[str, float]:
        """Seconds per phase entered so far (the running phase up to its last change)."""
        return {k: v for k, v in self._seconds.items() if k not in MILESTONES}

    # --- changes (the engine calls these) ---------------------------------------------------

    def events(self) -> list[JobEvent]:
        """The job's recorded events still kept, oldest first (what a new follower replays)."""
        return self._log.recorded()

    def _append(self, event: str, data: Any) -> None:
        self._log.append(event, data)

    def _record_state(self) -> None:
        self._append("state", self.view())

    def _move(self, state: JobState) -> None:
        if state not in ALLOWED_TRANSITIONS[self.state]:
            raise InvalidTransition(f"job {self.job_id}: {self.state.value} -> {state.value}")
        self.state = state

    def start(self) -> None:
        self._move(JobState.RUNNING)
        self._record_state()

    def _close_phase(self) -> None:
        now = self._clock.monotonic()
        if self.phase is not None and self._phase_started is not None:
            name = self.phase.value
            self._seconds[name] = self._seconds.get(name, 0.0) + (now - self._phase_started)
        self._phase_started = now

    def milestone(self, name: str) -> None:
        """Record ``name`` (one of MILESTONES) at the first call: seconds since the start."""
        if name not in self._seconds:
            self._seconds[name] = self._clock.monotonic() - self.started_mono

    def draining(self, seconds: float) -> None:
        """Record the drain that opened the ``stopping`` phase: ``draining_s`` counts it and
        ``stopping_s`` does not (the drain waits for clients, the stop for the Sparks)."""
        self._seconds["draining"] = self._seconds.get("draining", 0.0) + seconds
        if self._phase_started is not None:
            self._phase_started += seconds

    def enter(self, phase: Phase, progress: float) -> None:
        self._close_phase()
        self.phase = phase
        self.progress = max(self.progress, progress)
        self._record_state()

    def advance(self, progress: float) -> None:
        """Raise progress (never lowers it); records a state event only when it moved."""
        if progress > self.progress + 0.005:
            self.progress = min(progress, 0.99)
            self._record_state()

    def note_held(self, count: int) -> None:
        """How many requests wait for this swap; records a state event when it changed."""
        if count != self.held_requests and not self.terminal:
            self.held_requests = count
            self._record_state()

    def log(self, node: str, line: str) -> None:
        self._tail.append(f"{node}: {line}")
        self._append("log", LogLine(node=node, line=line))

    def finish(
        self, state: JobState, *, returncode: int | None = None, error: str | None = None
    ) -> None:
        """Enter the terminal ``state`` (exactly once: a second finish raises
        :class:`InvalidTransition`) and wake everyone waiting on ``finished``."""
        if not state.terminal:
            raise InvalidTransition(f"job {self.job_id}: {state.value} is not a terminal state")
        self._move(state)
        self._close_phase()
        self.total_s = self._clock.monotonic() - self.started_mono
        self.returncode = returncode
        self.error = error
        if state == JobState.READY:
            self.progress = 1.0
        self.finished_at = isoformat(self._clock.now())
        self.finished_mono = self._clock.monotonic()
        self._record_state()
        self.finished.set()

    # --- following --------------------------------------------------------------------------

    async def follow(
        self, after: int = 0, *, heartbeat: float = 15.0
    ) -> AsyncIterator[JobEvent | None]:
        """Yield events with id > ``after`` as they happen; ``None`` as a heartbeat after
        ``heartbeat`` quiet seconds. Ends after the terminal state event."""
        async for event in self._log.follow(
            after, heartbeat=heartbeat, state=self.view, ended=lambda: self.terminal
        ):
            yield event


class JobHistory(BoundedHistory[JobRecord]):
    """The most recent jobs (bounded), newest first."""

    def add(self, job: JobRecord) -> None:
        self.put(job.job_id, job)
