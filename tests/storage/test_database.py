"""The history database: migrations from every earlier schema, a corrupt file, a newer file,
and a missing data directory. Real SQLite files in the test's temporary directory."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.storage import Storage, StoredJob
from app.storage.database import Database
from app.storage.migrations import LATEST, MIGRATIONS, migrate, version

NOW = datetime(2026, 6, 17, 12, 0, tzinfo=UTC)


def storage(path: Path | str) -> Storage:
    return Storage(str(path), now=lambda: NOW)


def job(job_id: str, state: str = "ready", started: str = "2026-06-17T11:00:00+00:00") -> StoredJob:
    view = (
        f'{{"job_id":"{job_id}","model_key":"m","state":"{state}","dry_run":false,'
        f'"started_at":"{started}","finished_at":null,"returncode":null,"error":null,'
        '"timings":{"loading_s":12.5}}'
    ).encode()
    return StoredJob(job_id, "m", state, False, started, None, 30.0, view)


# Rows each schema version can hold, written with that version's own columns.
ROWS_AT_VERSION = {
    1: [
        "INSERT INTO swap_jobs (job_id, model_key, state, dry_run, started_at, job) "
        "VALUES ('0000aaaa', 'm', 'ready', 0, '2026-06-01T00:00:00+00:00', '{\"job_id\":\"0000aaaa\"}')",
        "INSERT INTO webhook_deliveries (delivery_id, event, at, target, attempts, ok) "
        "VALUES ('msg_1', 'swap_complete', '2026-06-01T00:00:00+00:00', 'http://h', 1, 1)",
        "INSERT INTO gpu_samples VALUES ('spark1', 1781000000.0, 50, 1000, 2000, 40, 90)",
    ],
    2: [
        "INSERT INTO downloads (download_id, model_key, state, started_at, data) "
        "VALUES ('d1', 'm', 'done', '2026-06-01T00:00:00+00:00', '{\"download_id\":\"d1\"}')",
    ],
}


def make_file_at(path: Path, at_version: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, at_version)
    for number in range(1, at_version + 1):
        for statement in ROWS_AT_VERSION[number]:
            conn.execute(statement)
    conn.close()


def test_every_migration_has_rows_to_carry() -> None:
    assert (
        sorted(ROWS_AT_VERSION) == list(range(1, LATEST + 1)) == list(range(1, len(MIGRATIONS) + 1))
    )


@pytest.mark.parametrize("start", range(LATEST + 1))
async def test_opening_migrates_from_every_earlier_version_and_keeps_rows(
    tmp_path: Path, start: int
) -> None:
    path = tmp_path / "spark-control.db"
    if start:
        make_file_at(path, start)
    store = storage(path)
    store.db.start()
    try:
        page = await store.swaps.page(10)
        deliveries = await store.deliveries.recent()
        downloads = await store.downloads.recent()
        final = await store.db.read(version)
        journal = await store.db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        store.db.close()
    assert final == LATEST
    assert journal == "wal"
    assert store.warnings == [] and store.db.persistent
    assert len(page or []) == (1 if start >= 1 else 0)
    assert len(deliveries) == (1 if start >= 1 else 0)
    assert len(downloads) == (1 if start >= 2 else 0)


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["not-sqlite", "bad-pages"],
)
async def test_corrupt_file_is_moved_aside_and_replaced(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "spark-control.db"
    path.write_bytes(content)
    (tmp_path / "spark-control.db-wal").write_bytes(b"junk")
    store = storage(path)
    store.db.start()
    try:
        store.swaps.save(job("0000beef"))
        assert len(await store.swaps.page(10) or []) == 1
    finally:
        store.db.close()
    kept = tmp_path / "spark-control.db.corrupt-20260617T120000Z"
    assert kept.read_bytes() == content  # nothing lost
    assert store.db.persistent
    assert len(store.warnings) == 1
    assert "corrupt" in store.warnings[0] and kept.name in store.warnings[0]
    # The new file is a healthy database that a second start reads back without warnings.
    again = storage(path)
    again.db.start()
    try:
        assert len(await again.swaps.page(10) or []) == 1
    finally:
        again.db.close()
    assert again.warnings == []


async def test_file_from_a_newer_version_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "spark-control.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    before = path.read_bytes()
    store = storage(path)
    store.db.start()
    try:
        store.swaps.save(job("0000cafe"))
        assert len(await store.swaps.page(10) or []) == 1  # still works, in memory
    finally:
        store.db.close()
    assert path.read_bytes() == before
    assert not store.db.persistent
    assert "newer" in store.warnings[0] and "memory" in store.warnings[0]


async def test_missing_data_directory_means_memory_without_a_warning(tmp_path: Path) -> None:
    store = storage(tmp_path / "no-such-dir" / "spark-control.db")
    store.db.start()
    try:
        store.swaps.save(job("0000f00d"))
        assert len(await store.swaps.page(10) or []) == 1
    finally:
        store.db.close()
    assert store.warnings == [] and not store.db.persistent
    assert not (tmp_path / "no-such-dir").exists()


async def test_a_failing_write_is_logged_and_later_work_goes_on(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "x.db"))
    db.start()
    try:
        db.write(lambda c: c.execute("INSERT INTO no_such_table VALUES (1)"))
        assert await db.read(lambda c: version(c)) == LATEST
    finally:
        db.close()
    assert db.write_errors == 1


async def test_ten_thousand_jobs_page_without_gaps_or_repeats(tmp_path: Path) -> None:
    store = storage(tmp_path / "h.db")
    store.db.start()
    try:
        ids = [f"{n:08x}" for n in range(10_000)]
        for job_id in ids:
            store.swaps.save(job(job_id))
        seen: list[str] = []
        before = None
        while True:
            page = await store.swaps.page(333, before)
            assert page is not None
            if not page:
                break
            import msgspec

            seen += [msgspec.json.decode(raw)["job_id"] for raw in page]
            before = seen[-1]
        assert await store.swaps.count() == 10_000
        assert await store.swaps.page(5, "ffffffff") is None  # unknown cursor
    finally:
        store.db.close()
    assert seen == list(reversed(ids))


async def test_jobs_left_running_are_closed_as_failed_at_the_next_start(tmp_path: Path) -> None:
    import msgspec

    path = tmp_path / "h.db"
    first = storage(path)
    first.db.start()
    first.swaps.save(job("0000aaaa", state="running"))
    first.swaps.save(job("0000bbbb", state="ready"))
    first.db.close()
    second = storage(path)
    second.db.start()
    try:
        second.swaps.close_interrupted("2026-06-17T12:00:00+00:00")
        views = {
            v["job_id"]: v
            for v in (msgspec.json.decode(raw) for raw in await second.swaps.page(10) or [])
        }
    finally:
        second.db.close()
    assert views["0000aaaa"]["state"] == "failed"
    assert "stopped while the swap was running" in views["0000aaaa"]["error"]
    assert views["0000aaaa"]["returncode"] == 1
    assert views["0000bbbb"]["state"] == "ready"


async def test_downloads_left_running_are_closed_as_failed_at_the_next_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.db"
    first = storage(path)
    first.db.start()
    base = {"model_key": "m", "started_at": "2026-06-17T11:00:00+00:00", "phase": None}
    first.downloads.record_download({**base, "download_id": "dl-q", "state": "queued"})
    running = {"state": "running", "phase": "copying", "rate_bps": 5.0, "eta_s": 9.0}
    first.downloads.record_download({**base, "download_id": "dl-r", **running})
    done = {"state": "done", "finished_at": "2026-06-17T11:05:00+00:00", "error": None}
    first.downloads.record_download({**base, "download_id": "dl-d", **done})
    first.db.close()
    second = storage(path)
    second.db.start()
    try:
        second.downloads.close_interrupted("2026-06-17T12:00:00+00:00")
        rows = {d["download_id"]: d for d in await second.downloads.recent()}
    finally:
        second.db.close()
    stopped = "Spark Control stopped during the download."
    for download_id in ("dl-q", "dl-r"):
        row = rows[download_id]
        assert (row["state"], row["error"]) == ("failed", stopped)
        assert row["finished_at"] == "2026-06-17T12:00:00+00:00"
        assert row["phase"] is None and row["rate_bps"] is None and row["eta_s"] is None
    assert rows["dl-d"] == {**base, "download_id": "dl-d", **done}


async def test_retention_drops_old_history_rows(tmp_path: Path) -> None:
    store = Storage(str(tmp_path / "h.db"), now=lambda: NOW, history_days=30)
    store.db.start()
    try:
        store.swaps.save(job("00000001", started="2026-04-01T00:00:00+00:00"))
        store.swaps.save(job("00000002", started="2026-06-10T00:00:00+00:00"))
        store.downloads.record_download(
            {
                "download_id": "d-old",
                "model_key": "m",
                "state": "done",
                "started_at": "2026-04-01T00:00:00+00:00",
            }
        )
        store.prune()
        left = [raw for raw in await store.swaps.page(10) or []]
        downloads = await store.downloads.recent()
    finally:
        store.db.close()
    assert len(left) == 1 and b"00000002" in left[0]
    assert downloads == []


async def test_download_records_upsert_and_reject_incomplete_ones(tmp_path: Path) -> None:
    store = storage(tmp_path / "h.db")
    store.db.start()
    try:
        base = {"download_id": "dl-1", "model_key": "m", "started_at": "2026-06-17T11:00:00+00:00"}
        store.downloads.record_download({**base, "state": "running", "bytes": 10})
        store.downloads.record_download({**base, "state": "done", "bytes": 99, "finished_at": "x"})
        with pytest.raises(ValueError, match="download_id"):
            store.downloads.record_download({"model_key": "m"})
        rows = await store.downloads.recent(model_key="m")
    finally:
        store.db.close()
    assert rows == [{**base, "state": "done", "bytes": 99, "finished_at": "x"}]


async def test_a_failing_write_in_a_burst_undoes_only_itself(tmp_path: Path) -> None:
    store = storage(tmp_path / "burst.db")
    store.db.start()
    store.db.wait_open()
    try:
        store.swaps.save(job("00000001"))
        store.db.write(lambda c: c.execute("INSERT INTO swap_jobs (job_id) VALUES ('x')"))
        store.swaps.save(job("00000002"))
        page = await store.swaps.page(10)
    finally:
        store.db.close()
    assert [b'"00000002"' in raw or b'"00000001"' in raw for raw in page or []] == [True, True]
    assert store.db.write_errors == 1
