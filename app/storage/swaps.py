"""The persistent swap history: one row per job, its API view stored as JSON beside the columns
that paging, statistics and retention need.

The engine saves a job when it starts and again when it ends (an upsert by ``job_id``); jobs
that were still running when the app stopped are closed as ``failed`` at the next start.
Paging is by ``seq`` (insertion order), newest first: ``before`` is a job id, and the page holds
the jobs that started before it — stable while new jobs arrive.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

from app.clock import isoformat
from app.storage.database import Database, transaction

INTERRUPTED = "Spark Control stopped while the swap was running."


class StoredJob(msgspec.Struct, frozen=True):
    """What the store needs of a job; ``view`` is the job's JSON as the API shows it."""

    job_id: str
    model_key: str
    state: str
    dry_run: bool
    started_at: str
    finished_at: str | None
    duration_s: float | None
    view: bytes


class Quantiles(msgspec.Struct, frozen=True):
    median_s: float | None
    p90_s: float | None


class ModelStats(msgspec.Struct, frozen=True):
    """Load-time figures over a model's recent successful real swaps."""

    model_key: str
    samples: int
    total: Quantiles
    loading: Quantiles
    phases: dict[str, Quantiles]
    last_ready_at: str | None


def quantiles(values: Sequence[float]) -> Quantiles:
    """Median and 90th percentile (nearest rank; None without values)."""
    if not values:
        return Quantiles(None, None)
    ordered = sorted(values)
    rank = max(0, -(-9 * len(ordered) // 10) - 1)  # ceil(0.9 n) - 1
    return Quantiles(round(statistics.median(ordered), 3), round(ordered[rank], 3))


class SwapStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, job: StoredJob) -> None:
        """Insert or update ``job`` (queued; returns at once)."""
        self._db.write(lambda conn: _upsert(conn, job))

    async def page(self, limit: int, before: str | None = None) -> list[bytes] | None:
        """Up to ``limit`` job views (JSON), newest first, older than job ``before``;
        None when ``before`` is not a known job."""
        return await self._db.read(lambda conn: _page(conn, limit, before))

    async def get(self, job_id: str) -> bytes | None:
        return await self._db.read(lambda conn: _get(conn, job_id))

    async def count(self) -> int:
        return await self._db.read(
            lambda conn: int(conn.execute("SELECT count(*) FROM swap_jobs").fetchone()[0])
        )

    async def stats(self, model_key: str, *, window: int = 50) -> ModelStats:
        """Figures over the last ``window`` successful real swaps of ``model_key``."""
        return await self._db.read(lambda conn: _stats(conn, model_key, window))

    def close_interrupted(self, finished_at: str) -> None:
        """Mark jobs left ``queued``/``running`` by a previous run as failed (at startup)."""
        self._db.write(lambda conn: _close_interrupted(conn, finished_at))

    def prune(self, older_than: datetime) -> None:
        cutoff = isoformat(older_than)
        self._db.write(
            lambda conn: conn.execute("DELETE FROM swap_jobs WHERE started_at < ?", (cutoff,))
        )


def _upsert(conn: sqlite3.Connection, job: StoredJob) -> None:
    conn.execute(
        """INSERT INTO swap_jobs
               (job_id, model_key, state, dry_run, started_at, finished_at, duration_s, job)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (job_id) DO UPDATE SET
               state = excluded.state, finished_at = excluded.finished_at,
               duration_s = excluded.duration_s, job = excluded.job""",
        (
            job.job_id,
            job.model_key,
            job.state,
            int(job.dry_run),
            job.started_at,
            job.finished_at,
            job.duration_s,
            job.view.decode(),
        ),
    )


def _page(conn: sqlite3.Connection, limit: int, before: str | None) -> list[bytes] | None:
    if before is None:
        rows = conn.execute(
            "SELECT job FROM swap_jobs ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()
    else:
        anchor = conn.execute("SELECT seq FROM swap_jobs WHERE job_id = ?", (before,)).fetchone()
        if anchor is None:
            return None
        rows = conn.execute(
            "SELECT job FROM swap_jobs WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            (anchor[0], limit),
        ).fetchall()
    return [row[0].encode() for row in rows]


def _get(conn: sqlite3.Connection, job_id: str) -> bytes | None:
    row = conn.execute("SELECT job FROM swap_jobs WHERE job_id = ?", (job_id,)).fetchone()
    return row[0].encode() if row else None


class _Timed(msgspec.Struct):
    finished_at: str | None = None
    timings: dict[str, float | None] = msgspec.field(default_factory=dict)


def _stats(conn: sqlite3.Connection, model_key: str, window: int) -> ModelStats:
    rows = conn.execute(
        """SELECT duration_s, job FROM swap_jobs
           WHERE model_key = ? AND state = 'ready' AND dry_run = 0
           ORDER BY seq DESC LIMIT ?""",
        (model_key, window),
    ).fetchall()
    decoder = msgspec.json.Decoder(_Timed)
    totals: list[float] = []
    phases: dict[str, list[float]] = {}
    last: str | None = None
    for duration, text in rows:
        timed = decoder.decode(text)
        last = last or timed.finished_at
        if duration is not None:
            totals.append(duration)
        for name, value in timed.timings.items():
            if value is not None and name.endswith("_s") and name != "total_s":
                phases.setdefault(name, []).append(value)
    return ModelStats(
        model_key=model_key,
        samples=len(rows),
        total=quantiles(totals),
        loading=quantiles(phases.get("loading_s", [])),
        phases={name: quantiles(values) for name, values in sorted(phases.items())},
        last_ready_at=last,
    )


def _close_interrupted(conn: sqlite3.Connection, finished_at: str) -> None:
    rows = conn.execute(
        "SELECT job_id, job FROM swap_jobs WHERE state IN ('queued', 'running')"
    ).fetchall()
    with transaction(conn):
        for job_id, text in rows:
            view = msgspec.json.decode(text)
            view.update(state="failed", finished_at=finished_at, error=INTERRUPTED, phase=None)
            view.setdefault("returncode", None)
            if view["returncode"] is None:
                view["returncode"] = 1
            conn.execute(
                "UPDATE swap_jobs SET state = 'failed', finished_at = ?, job = ? WHERE job_id = ?",
                (finished_at, msgspec.json.encode(view).decode(), job_id),
            )


def retention_cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
