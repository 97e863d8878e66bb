"""GPU readings on disk: every reading for the last hour, one-minute averages for longer.

``add`` queues one row per reading (figures may be null: no reading from that Spark). When a
reading starts a new minute, the previous minutes' readings are averaged into ``gpu_minutes``
(idempotent: a minute is recomputed from whatever full-rate rows exist), and rows older than
their retention are deleted. Reads pick the table by range and, for long ranges, average the
minutes further into at most ``MAX_POINTS`` buckets so a 7-day graph stays small.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import msgspec

from app.storage.database import Database, transaction

MAX_POINTS = 720
FIELDS = ("util", "mem_used_mib", "mem_total_mib", "temp_c", "power_w")
Figures = tuple[float | None, float | None, float | None, float | None, float | None]


class GpuRow(msgspec.Struct, frozen=True, array_like=True):
    """One point: unix seconds and the five figures (each possibly null)."""

    t: float
    util: float | None
    mem_used_mib: float | None
    mem_total_mib: float | None
    temp_c: float | None
    power_w: float | None


class GpuStore:
    def __init__(self, db: Database, *, full_rate_s: float = 3600.0, minutes_days: int = 7):
        self._db = db
        self.full_rate_s = full_rate_s
        self.minutes_s = minutes_days * 86400
        self._minute: dict[str, int] = {}

    def add(self, spark: str, t: float, figures: Figures | None) -> None:
        """Queue one reading of ``spark`` at unix time ``t`` (None: no reading)."""
        values = figures or (None, None, None, None, None)
        minute = int(t // 60)
        previous = self._minute.get(spark)
        self._minute[spark] = minute
        since = previous if previous is not None and minute > previous else None
        self._db.write(lambda conn: _add(conn, spark, t, values, since, self))

    async def rows(
        self, spark_names: Sequence[str], range_s: float, now: float
    ) -> dict[str, list[GpuRow]]:
        """Each Spark's points over the last ``range_s`` seconds, oldest first: full rate
        within the full-rate window, bucketed minute averages beyond it."""
        return await self._db.read(lambda conn: _rows(conn, spark_names, range_s, now, self))

    def bucket_s(self, range_s: float) -> int:
        """Seconds per point that ``rows`` uses for ``range_s`` beyond the full-rate window."""
        return max(1, int(range_s // 60 // MAX_POINTS)) * 60

    async def rollup_now(self, now: float) -> None:
        """Average every complete minute of the full-rate window (at startup: the minutes the
        previous run had not averaged yet)."""
        since = int((now - self.full_rate_s) // 60)
        await self._db.read(lambda conn: _rollup(conn, None, since, int(now // 60), self, now))


def _add(
    conn: sqlite3.Connection,
    spark: str,
    t: float,
    values: Figures,
    since_minute: int | None,
    store: GpuStore,
) -> None:
    conn.execute("INSERT INTO gpu_samples VALUES (?, ?, ?, ?, ?, ?, ?)", (spark, t, *values))
    if since_minute is not None:
        _rollup(conn, spark, since_minute, int(t // 60), store, t)


def _rollup(
    conn: sqlite3.Connection,
    spark: str | None,
    since_minute: int,
    current_minute: int,
    store: GpuStore,
    now: float,
) -> None:
    """Average the minutes from ``since_minute`` up to (not including) ``current_minute``,
    then drop full-rate rows past their window and, once an hour, expired averages."""
    averages = ", ".join(f"avg({f})" for f in FIELDS)
    where = "t >= ? AND t < ?" + (" AND spark = ?" if spark is not None else "")
    args: tuple[object, ...] = (since_minute * 60, current_minute * 60) + (
        (spark,) if spark else ()
    )
    with transaction(conn):
        conn.execute(
            f"""INSERT OR REPLACE INTO gpu_minutes
                SELECT spark, CAST(t / 60 AS INTEGER) AS m, {averages}, count(*)
                FROM gpu_samples WHERE {where} GROUP BY spark, m""",  # noqa: S608 - constant SQL
            args,
        )
        conn.execute("DELETE FROM gpu_samples WHERE t < ?", (now - store.full_rate_s,))
        if spark is None or current_minute // 60 != since_minute // 60:
            conn.execute(
                "DELETE FROM gpu_minutes WHERE minute < ?", (int((now - store.minutes_s) // 60),)
            )


def _rows(
    conn: sqlite3.Connection,
    spark_names: Sequence[str],
    range_s: float,
    now: float,
    store: GpuStore,
) -> dict[str, list[GpuRow]]:
    start = now - range_s
    out: dict[str, list[GpuRow]] = {}
    columns = ", ".join(FIELDS)
    for spark in spark_names:
        if range_s <= store.full_rate_s:
            rows = conn.execute(
                f"SELECT t, {columns} FROM gpu_samples WHERE spark = ? AND t >= ? ORDER BY t",  # noqa: S608
                (spark, start),
            ).fetchall()
        else:
            bucket = max(1, int(range_s // 60 // MAX_POINTS))  # minutes per point
            averages = ", ".join(f"avg({f})" for f in FIELDS)
            rows = conn.execute(
                f"""SELECT (minute / ?) * ? * 60 AS t, {averages} FROM gpu_minutes
                    WHERE spark = ? AND minute >= ? GROUP BY minute / ? ORDER BY t""",  # noqa: S608
                (bucket, bucket, spark, int(start // 60), bucket),
            ).fetchall()
        out[spark] = [GpuRow(*row) for row in rows]
    return out
