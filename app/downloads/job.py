"""Download jobs: their states, what the API shows of them, and each job's own event log.

A job moves ``queued → running → done | failed | cancelled`` (a queued job may also end
``failed`` or ``cancelled``); the transitions are checked, and a terminal state is final, so
whatever arrives when (cancel twice, a shutdown, a dropped SSH) a job ends exactly once. While
running its ``phase`` is ``planning → downloading → copying → verifying``.

Progress is bytes on disk against the plan: ``bytes_total`` is the plan's size times the number
of Sparks (each holds a full copy), ``bytes_done`` the sum of each Spark's planned bytes present
(partial files included). ``rate_bps`` is measured over the last ``RATE_WINDOW_S`` seconds of
samples; ``eta_s`` is what remains at that rate.

Each job keeps a bounded log of numbered events (``state`` snapshots and ``log`` lines) that SSE
streams replay from any ``Last-Event-ID`` and then follow live.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from app.clock import Clock, isoformat
from app.eventlog import BoundedHistory, EventLog, LogEvent

RATE_WINDOW_S = 10.0


class DownloadState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (DownloadState.DONE, DownloadState.FAILED, DownloadState.CANCELLED)


ALLOWED = {
    DownloadState.QUEUED: {DownloadState.RUNNING, DownloadState.FAILED, DownloadState.CANCELLED},
    DownloadState.RUNNING: {DownloadState.DONE, DownloadState.FAILED, DownloadState.CANCELLED},
}


class DownloadPhase(enum.StrEnum):
    PLANNING = "planning"
    DOWNLOADING = "downloading"
    COPYING = "copying"
    VERIFYING = "verifying"


class NodeProgress(msgspec.Struct, frozen=True):
    """One Spark's part: ``state`` is waiting | present (every file at full size before this
    job fetched anything) | downloading | downloaded | copying | verifying | verified | failed;
    the file lists are paths in the repo."""

    node: str
    state: str
    bytes_done: int
    missing_files: list[str]
    corrupt_files: list[str]


class Download(msgspec.Struct, frozen=True):
    """The API view of a download job."""

    download_id: str
    model_key: str
    repo: str
    revision: str | None
    state: DownloadState
    phase: DownloadPhase | None
    bytes_total: int
    bytes_done: int
    rate_bps: float | None
    eta_s: float | None
    nodes: list[NodeProgress]
    error: str | None
    started_at: str
    finished_at: str | None
    then_swap: bool = False
    swap_job_id: str | None = None


DownloadEvent = LogEvent


class LogLine(msgspec.Struct, frozen=True):
    node: str
    line: str


class IllegalTransition(RuntimeError):
    """A state change the machine does not allow (a bug, never a user error)."""


class DownloadRecord:
    """The mutable job the runner drives; every change is recorded as a numbered event."""

    def __init__(
        self,
        download_id: str,
        model_key: str,
        repo: str,
        nodes: list[str],
        *,
        clock: Clock,
        then_swap: bool = False,
        max_events: int = 2000,
    ) -> None:
        self.download_id = download_id
        self.model_key = model_key
        self.repo = repo
        self.revision: str | None = None
        self.state = DownloadState.QUEUED
        self.phase: DownloadPhase | None = None
        self.plan_bytes = 0
        self.error: str | None = None
        self.then_swap = then_swap
        self.swap_job_id: str | None = None
        self.started_at = isoformat(clock.now())
        self.started_mono = clock.monotonic()
        self.finished_at: str | None = None
        self.cancel_requested = False
        self.nodes: dict[str, NodeProgress] = {
            n: NodeProgress(n, "waiting", 0, [], []) for n in nodes
        }
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self._log = EventLog(max_events)
        self.finished = asyncio.Event()
        self._record_state()

    # --- views -----------------------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    @property
    def bytes_total(self) -> int:
        return self.plan_bytes * len(self.nodes)

    @property
    def bytes_done(self) -> int:
        return sum(min(p.bytes_done, self.plan_bytes) for p in self.nodes.values())

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else None

    def view(self) -> Download:
        rate = self.rate() if self.state == DownloadState.RUNNING else None
        remaining = self.bytes_total - self.bytes_done
        eta = remaining / rate if rate and rate > 0 and remaining > 0 else None
        return Download(
            download_id=self.download_id,
            model_key=self.model_key,
            repo=self.repo,
            revision=self.revision,
            state=self.state,
            phase=self.phase if self.state == DownloadState.RUNNING else None,
            bytes_total=self.bytes_total,
            bytes_done=self.bytes_done,
            rate_bps=round(rate, 1) if rate is not None else None,
            eta_s=round(eta, 1) if eta is not None else None,
            nodes=list(self.nodes.values()),
            error=self.error,
            started_at=self.started_at,
            finished_at=self.finished_at,
            then_swap=self.then_swap,
            swap_job_id=self.swap_job_id,
        )

    # --- changes (the runner calls these) ---------------------------------------------------

    def _append(self, event: str, data: Any) -> None:
        self._log.append(event, data)

    def _record_state(self) -> None:
        self._append("state", self.view())

    def _transition(self, state: DownloadState) -> None:
        if state not in ALLOWED.get(self.state, set()):
            raise IllegalTransition(f"download {self.download_id}: {self.state} -> {state}")
        self.state = state

    def start(self) -> None:
        self._transition(DownloadState.RUNNING)
        self._record_state()

    def enter(self, phase: DownloadPhase) -> None:
        self.phase = phase
        self._record_state()

    def planned(self, revision: str, plan_bytes: int) -> None:
        self.revision = revision
        self.plan_bytes = plan_bytes
        self._record_state()

    def node(self, progress: NodeProgress, *, record: bool = True) -> None:
        """Replace one node's progress; also samples the overall bytes for the rate."""
        self.nodes[progress.node] = progress
        now = self._clock.monotonic()
        self._samples.append((now, self.bytes_done))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()
        if record:
            self._record_state()

    def log(self, node: str, line: str) -> None:
        self._append("log", LogLine(node=node, line=line))

    def finish(self, state: DownloadState, *, error: str | None = None) -> bool:
        """End the job (once: a second call is ignored and returns False)."""
        if self.state.terminal:
            return False
        self._transition(state)
        self.error = error
        self.finished_at = isoformat(self._clock.now())
        self._record_state()
        self.finished.set()
        return True

    def swap_started(self, job_id: str) -> None:
        self.swap_job_id = job_id
        self._record_state()

    # --- following --------------------------------------------------------------------------

    async def follow(
        self, after: int = 0, *, heartbeat: float = 15.0
    ) -> AsyncIterator[DownloadEvent | None]:
        """Yield events with id > ``after`` as they happen; ``None`` as a heartbeat after
        ``heartbeat`` quiet seconds. Ends after the terminal state event."""
        async for event in self._log.follow(
            after, heartbeat=heartbeat, state=self.view, ended=lambda: self.terminal
        ):
            yield event


class DownloadHistory(BoundedHistory[DownloadRecord]):
    """The most recent jobs (bounded), newest first; lost on restart by contract."""

    def add(self, job: DownloadRecord) -> None:
        self.put(job.download_id, job)

    def active_for(self, model_key: str) -> DownloadRecord | None:
        return next(
            (j for j in self._jobs.values() if j.model_key == model_key and not j.terminal), None
        )
