"""Webhook deliveries: one row per event sent (after its last attempt), newest kept.

``target`` is the receiver's scheme://host[:port] only — never the path or query, which may
carry a token — and ``error`` is one sentence.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

import msgspec

from app.clock import isoformat
from app.storage.database import Database

RECENT_LIMIT = 200


class Delivery(msgspec.Struct, frozen=True):
    delivery_id: str
    event: str
    at: str
    target: str
    attempts: int
    ok: bool
    status: int | None
    latency_ms: float | None
    error: str | None


_COLUMNS = "delivery_id, event, at, target, attempts, ok, status, latency_ms, error"


class DeliveryStore:
    def __init__(self, db: Database, *, keep: int = 1000) -> None:
        self._db = db
        self._keep = keep

    def record(self, delivery: Delivery) -> None:
        """Queue ``delivery`` for writing (returns at once); keeps the newest ``keep`` rows."""
        self._db.write(lambda conn: _insert(conn, delivery, self._keep))

    async def recent(self, limit: int = 50) -> list[Delivery]:
        limit = max(1, min(limit, RECENT_LIMIT))
        return await self._db.read(lambda conn: _recent(conn, limit))

    def prune(self, older_than: datetime) -> None:
        cutoff = isoformat(older_than)
        self._db.write(
            lambda conn: conn.execute("DELETE FROM webhook_deliveries WHERE at < ?", (cutoff,))
        )


def _insert(conn: sqlite3.Connection, d: Delivery, keep: int) -> None:
    cursor = conn.execute(
        f"INSERT INTO webhook_deliveries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - constant column list
        (
            d.delivery_id,
            d.event,
            d.at,
            d.target,
            d.attempts,
            int(d.ok),
            d.status,
            d.latency_ms,
            d.error,
        ),
    )
    if cursor.lastrowid is not None and cursor.lastrowid % 100 == 0:
        conn.execute("DELETE FROM webhook_deliveries WHERE seq <= ?", (cursor.lastrowid - keep,))


def _recent(conn: sqlite3.Connection, limit: int) -> list[Delivery]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM webhook_deliveries ORDER BY seq DESC LIMIT ?",  # noqa: S608
        (limit,),
    ).fetchall()
    return [Delivery(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8]) for r in rows]
