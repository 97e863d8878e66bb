"""Weights downloads: the persistent record the downloads feature writes through
:meth:`DownloadStore.record_download` (an upsert by ``download_id``: call it when a download
starts and again when it ends). This module stores and lists them; it runs no download.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import msgspec

from app.clock import isoformat
from app.storage.database import Database, transaction

REQUIRED = ("download_id", "model_key", "state", "started_at")
# The downloads feature's own words for a job a stop interrupted (app.downloads.runner).
INTERRUPTED = "Spark Control stopped during the download."


class DownloadStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record_download(self, download: Any) -> None:
        """Save ``download`` — a msgspec Struct or a mapping with at least ``download_id``,
        ``model_key``, ``state`` and ``started_at`` (optional ``finished_at``, ``error``; the
        whole of it is kept as JSON). Returns at once; raises ValueError when a required field
        is missing."""
        data = msgspec.to_builtins(download)
        if not isinstance(data, dict) or any(not data.get(k) for k in REQUIRED):
            raise ValueError(f"a download record needs {', '.join(REQUIRED)}")
        self._db.write(lambda conn: _upsert(conn, data))

    async def recent(self, limit: int = 50, model_key: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` downloads (their saved JSON), optionally of one model."""
        return await self._db.read(lambda conn: _recent(conn, limit, model_key))

    def close_interrupted(self, finished_at: str) -> None:
        """Mark downloads a previous run left ``queued``/``running`` (it was killed, or the
        appliance lost power: a clean stop ends them itself) as failed, at startup."""
        self._db.write(lambda conn: _close_interrupted(conn, finished_at))

    def prune(self, older_than: datetime) -> None:
        cutoff = isoformat(older_than)
        self._db.write(
            lambda conn: conn.execute("DELETE FROM downloads WHERE started_at < ?", (cutoff,))
        )


def _upsert(conn: sqlite3.Connection, data: dict[str, Any]) -> None:
    conn.execute(
        """INSERT INTO downloads
               (download_id, model_key, state, started_at, finished_at, error, data)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (download_id) DO UPDATE SET
               state = excluded.state, finished_at = excluded.finished_at,
               error = excluded.error, data = excluded.data""",
        (
            str(data["download_id"]),
            str(data["model_key"]),
            str(data["state"]),
            str(data["started_at"]),
            data.get("finished_at"),
            data.get("error"),
            msgspec.json.encode(data).decode(),
        ),
    )


def _close_interrupted(conn: sqlite3.Connection, finished_at: str) -> None:
    rows = conn.execute(
        "SELECT download_id, data FROM downloads WHERE state IN ('queued', 'running')"
    ).fetchall()
    with transaction(conn):
        for download_id, text in rows:
            data = msgspec.json.decode(text)
            data.update(
                state="failed",
                finished_at=finished_at,
                error=INTERRUPTED,
                phase=None,
                rate_bps=None,
                eta_s=None,
            )
            conn.execute(
                """UPDATE downloads SET state = 'failed', finished_at = ?, error = ?, data = ?
                   WHERE download_id = ?""",
                (finished_at, INTERRUPTED, msgspec.json.encode(data).decode(), download_id),
            )


def _recent(conn: sqlite3.Connection, limit: int, model_key: str | None) -> list[dict[str, Any]]:
    if model_key is None:
        rows = conn.execute(
            "SELECT data FROM downloads ORDER BY seq DESC LIMIT ?", (limit,)
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT data FROM downloads WHERE model_key = ? ORDER BY seq DESC LIMIT ?",
            (model_key, limit),
        ).fetchall()
    return [msgspec.json.decode(row[0]) for row in rows]
