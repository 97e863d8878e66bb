"""The SQLite database on the data volume, driven by one thread of its own.

Contract:
* Nothing blocks the event loop: every statement runs on the database thread. ``write(fn)``
  queues ``fn(conn)`` and returns at once (its failure is logged, never raised to the caller);
  ``await read(fn)`` queues ``fn(conn)`` and waits for its result. One thread means one writer,
  so writes never contend with each other, and a read sees every write queued before it.
* Opening (on the thread, at ``start``) sets WAL mode and applies the numbered migrations
  (:mod:`app.storage.migrations`).
* A file that is not a database, or whose pages are corrupt, is moved aside to
  ``<name>.corrupt-<UTC timestamp>`` (with its ``-wal``/``-shm``) and a fresh one is created;
  ``warnings`` then says so, and ``/api/status`` shows it. A file that cannot be opened at all
  (permissions, a newer schema) is left alone and the app keeps its history in memory for this
  run, with a warning. A missing parent directory (a development machine with no ``/data``)
  also means memory, logged but not a warning: nothing is wrong with the appliance.
* ``close()`` finishes the queued writes, then closes the connection and joins the thread.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from app.storage.migrations import LATEST, SchemaTooNew, migrate, version

log = logging.getLogger("spark_control.storage")

MEMORY = ":memory:"
T = TypeVar("T")
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB

Job = tuple[Callable[[sqlite3.Connection], Any], "concurrent.futures.Future[Any] | None"]
# Queued by close(): the thread finishes what is queued before it, then stops.
_STOP: Job = (lambda _conn: None, None)
BATCH = 500  # writes per transaction at most


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN`` … ``COMMIT`` (``ROLLBACK`` on error); the connection is in autocommit mode.
    Inside a batch of writes (already in a transaction) it adds nothing: the batch's savepoint
    around each write keeps that write atomic."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class Database:
    def __init__(self, path: str, *, now: Callable[[], datetime] | None = None) -> None:
        self.path = path
        self._now = now or (lambda: datetime.now(UTC))
        self.warnings: list[str] = []
        self.persistent = False
        self.moved_to: Path | None = None
        self._queue: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self.write_errors = 0

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the database thread (idempotent); it opens the file before anything else."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="spark-db", daemon=True)
            self._thread.start()

    def wait_open(self, timeout: float = 30.0) -> bool:
        """Block until the database is open (for threads and tests, not the event loop)."""
        self.start()
        return self._opened.wait(timeout)

    def close(self) -> None:
        """Finish queued work, close the file, join the thread (blocks: call it off the loop)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    # --- work --------------------------------------------------------------------------------

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.start()
        self._queue.put((fn, future))
        return future

    def write(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        """Queue ``fn(conn)``; never waits, never raises (a failure is logged)."""
        self.start()
        self._queue.put((fn, None))

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the database thread after every write queued before it."""
        import asyncio

        return await asyncio.wrap_future(self.submit(fn))

    async def flush(self) -> None:
        """Wait until every write queued so far has run."""
        await self.read(lambda _conn: None)

    # --- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._conn = self._open()
        except Exception as err:  # e.g. the corrupt file cannot be moved aside
            log.exception("storage: cannot open %s", self.path)
            self._conn = self._in_memory(f"cannot open {self.path} ({err})")
        finally:
            self._opened.set()
        conn = self._conn
        pending: Job | None = None
        while True:
            job = pending or self._queue.get()
            pending = None
            if job is _STOP:
                break
            fn, future = job
            if future is None:
                pending = self._write_batch(conn, fn)
                continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(conn))
            except Exception as err:
                future.set_exception(err)
        conn.close()

    def _write_batch(
        self, conn: sqlite3.Connection, first: Callable[[sqlite3.Connection], Any]
    ) -> Job | None:
        """Run ``first`` and the writes queued right behind it in one transaction (one commit
        for a burst of writes), each under its own savepoint so a failing write is undone
        alone. Returns the first queued item that is not a write (a read, or the stop)."""
        writes = [first]
        following: Job | None = None
        while len(writes) < BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP or item[1] is not None:
                following = item
                break
            writes.append(item[0])
        conn.execute("BEGIN")
        for fn in writes:
            conn.execute("SAVEPOINT write")
            try:
                fn(conn)
            except Exception as err:
                conn.execute("ROLLBACK TO write")
                self.write_errors += 1
                log.warning("a history write failed: %s", err)
            conn.execute("RELEASE write")
        conn.execute("COMMIT")
        return following

    def _open(self) -> sqlite3.Connection:
        if self.path == MEMORY:
            return self._connect(MEMORY)
        file = Path(self.path)
        if not file.parent.is_dir():
            log.warning(
                "storage: %s does not exist; history is kept in memory for this run", file.parent
            )
            return self._connect(MEMORY)
        try:
            conn = self._connect(str(file))
        except SchemaTooNew as err:
            return self._in_memory(f"{file}: {err}; left as it is")
        except sqlite3.DatabaseError as err:
            if getattr(err, "sqlite_errorcode", None) not in _CORRUPT_CODES:
                return self._in_memory(f"cannot open {file} ({err})")
            self.moved_to = self._move_aside(file)
            self.warnings.append(
                f"storage: {file} was corrupt; it was moved to {self.moved_to.name} and a new, "
                "empty history was started."
            )
            log.warning("storage: %s is corrupt (%s); moved to %s", file, err, self.moved_to)
            try:
                conn = self._connect(str(file))
            except (sqlite3.DatabaseError, SchemaTooNew) as again:
                return self._in_memory(f"cannot recreate {file} ({again})")
        self.persistent = True
        return conn

    def _in_memory(self, why: str) -> sqlite3.Connection:
        self.warnings.append(
            f"storage: {why}; history is kept in memory and will not survive a restart."
        )
        log.warning("storage: %s", why)
        return self._connect(MEMORY)

    def _connect(self, where: str) -> sqlite3.Connection:
        conn = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
        try:
            if version(conn) > LATEST:  # before any write: a newer file stays untouched
                raise SchemaTooNew(
                    f"schema version {version(conn)} is newer than this Spark Control"
                )
            if where != MEMORY:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints
                conn.execute("PRAGMA cache_size=-1024")  # 1 MiB: the appliance counts its RSS
                row = conn.execute("PRAGMA quick_check").fetchone()
                if row is None or row[0] != "ok":
                    err = sqlite3.DatabaseError(f"integrity check: {row[0] if row else '?'}")
                    err.sqlite_errorcode = 11
                    raise err
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self, file: Path) -> Path:
        stamp = self._now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = file.with_name(f"{file.name}.corrupt-{stamp}")
        file.replace(target)
        for suffix in ("-wal", "-shm"):
            side = file.with_name(file.name + suffix)
            with contextlib.suppress(FileNotFoundError):
                side.replace(target.with_name(target.name + suffix))
        return target
