"""The database schema as numbered migrations, applied in order at startup.

``PRAGMA user_version`` records the last applied migration. Each entry of :data:`MIGRATIONS` is
applied in its own transaction, so a crash mid-way leaves the database at the previous version.
Migrations are append-only: never edit one that has shipped, add the next number instead.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: swap history, webhook deliveries, GPU samples (full rate and per-minute averages).
    """
    CREATE TABLE swap_jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL UNIQUE,
        model_key TEXT NOT NULL,
        state TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        duration_s REAL,
        job TEXT NOT NULL
    );
    CREATE INDEX swap_jobs_model ON swap_jobs (model_key, state, seq);
    CREATE TABLE webhook_deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id TEXT NOT NULL,
        event TEXT NOT NULL,
        at TEXT NOT NULL,
        target TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        status INTEGER,
        latency_ms REAL,
        error TEXT
    );
    CREATE TABLE gpu_samples (
        spark TEXT NOT NULL,
        t REAL NOT NULL,
        util REAL, mem_used_mib REAL, mem_total_mib REAL, temp_c REAL, power_w REAL
    );
    CREATE INDEX gpu_samples_t ON gpu_samples (spark, t);
    CREATE TABLE gpu_minutes (
        spark TEXT NOT NULL,
        minute INTEGER NOT NULL,
        util REAL, mem_used_mib REAL, mem_total_mib REAL, temp_c REAL, power_w REAL,
        samples INTEGER NOT NULL,
        PRIMARY KEY (spark, minute)
    ) WITHOUT ROWID;
    """,
    # 2: weights downloads (written by the downloads feature through DownloadStore).
    """
    CREATE TABLE downloads (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        download_id TEXT NOT NULL UNIQUE,
        model_key TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        error TEXT,
        data TEXT NOT NULL
    );
    CREATE INDEX downloads_model ON downloads (model_key, seq);
    """,
)

LATEST = len(MIGRATIONS)


class SchemaTooNew(Exception):
    """The file was written by a newer Spark Control; it is left untouched."""


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> int:
    """Apply migrations after the file's version up to ``target``; returns the new version.

    Raises :class:`SchemaTooNew` for a file newer than this code, ``sqlite3.DatabaseError``
    for a file that is not a usable database."""
    current = version(conn)
    if current > LATEST:
        raise SchemaTooNew(f"schema version {current} is newer than this Spark Control ({LATEST})")
    for number in range(current + 1, target + 1):
        # executescript commits first; BEGIN/COMMIT around it makes one migration atomic.
        conn.executescript(
            f"BEGIN; {MIGRATIONS[number - 1]}; PRAGMA user_version = {number}; COMMIT;"
        )
    return version(conn)
