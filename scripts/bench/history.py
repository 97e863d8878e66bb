"""History database figures (SQLite on a temporary directory, the app's own code paths).

* write cost of a swap-history record and of a GPU reading: the caller's share (on the event
  loop: building and queueing the write) and the end-to-end cost per row on the database
  thread (N writes queued, then waited for);
* the process's RSS after writing 7 days of readings for two Sparks at the default 5 s probe
  interval (full rate for the last hour, one-minute averages before), and the file's size;
* ``GET /api/swap?limit=50`` latency over HTTP with 10,000 jobs in the history (first page and
  a page from the middle).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

from app.config import parse_config
from app.storage import Storage, StoredJob
from app.swap.jobs import Job, JobState, Origin, PhaseTimings
from scripts.bench import footprint

JOBS = 10_000
WRITES = 5_000
PROBE_S = 5.0
SPARKS = ("spark1", "spark2")
REQUESTS = 200


def stored(n: int) -> StoredJob:
    job = Job(
        job_id=f"{n:08x}",
        model_key="gemma-3-27b",
        dry_run=False,
        state=JobState.READY,
        phase=None,
        progress=1.0,
        started_at="2026-06-17T12:00:00+00:00",
        finished_at="2026-06-17T12:03:11+00:00",
        returncode=0,
        error=None,
        timings=PhaseTimings(1.2, None, 8.0, 2.1, 170.0, 0.4, 181.0, 181.1, 181.5, 191.0),
        origin=Origin(kind="api", client="192.168.1.20", user_agent="cron/1.0"),
    )
    return StoredJob(
        job.job_id,
        job.model_key,
        "ready",
        False,
        job.started_at,
        job.finished_at,
        191.0,
        msgspec.json.encode(job),
    )


async def write_costs(root: Path) -> None:
    store = Storage(str(root / "writes.db"), now=lambda: datetime.now(UTC))
    store.db.start()
    await asyncio.to_thread(store.db.wait_open)
    try:
        rows = [stored(n) for n in range(WRITES)]
        started = time.perf_counter()
        for row in rows:
            store.swaps.save(row)
        queued = time.perf_counter()
        await store.db.flush()
        done = time.perf_counter()
        print(
            f"swap-history record: {(queued - started) / WRITES * 1e6:.1f} µs on the event loop, "
            f"{(done - started) / WRITES * 1e6:.1f} µs end to end (over {WRITES} writes)"
        )
        t0 = datetime.now(UTC).timestamp()
        started = time.perf_counter()
        for i in range(WRITES):
            store.gpu.add(
                SPARKS[i % 2], t0 + (i // 2) * PROBE_S, (42.0, 60000.0, 122880.0, 55.0, 90.0)
            )
        queued = time.perf_counter()
        await store.db.flush()
        done = time.perf_counter()
        print(
            f"GPU reading: {(queued - started) / WRITES * 1e6:.1f} µs on the event loop, "
            f"{(done - started) / WRITES * 1e6:.1f} µs end to end (over {WRITES} readings, "
            "minute averages included)"
        )
    finally:
        store.db.close()


async def seven_days(root: Path) -> None:
    """Fill a database with 7 days of readings, then start the app on it and read its RSS
    after it served the 1 h, 24 h and 7 d graphs."""
    path = root / "week.db"
    now = datetime.now(UTC).timestamp()
    start = now - 7 * 86400
    store = Storage(str(path), now=lambda: datetime.now(UTC))
    store.db.start()
    await asyncio.to_thread(store.db.wait_open)
    steps = int(7 * 86400 / PROBE_S)
    try:
        for step in range(steps):
            for spark in SPARKS:
                figures = (float(step % 100), 60000.0, 122880.0, 55.0, 90.0)
                store.gpu.add(spark, start + step * PROBE_S, figures)
            if step % 1000 == 0:
                await store.db.flush()  # as real 5 s probes would, never a deep queue
        await store.db.flush()
    finally:
        store.db.close()
    config = root / "week.yaml"
    text = (
        footprint.SAMPLE_CONFIG.replace("KEY", f"{root}/id_ed25519")
        .replace("KNOWN", f"{root}/known_hosts")
        .replace("PORT1", str(footprint.free_port()))
        .replace("PORT2", str(footprint.free_port()))
        .replace("DATABASE", str(path))
    )
    points: dict[str, int] = {}

    def graphs(client: httpx.Client, base: str) -> None:
        for span in ("1h", "24h", "7d"):
            body = client.get(f"{base}/api/gpu/history", params={"range": span}).json()
            points[span] = len(body["sparks"]["spark1"])

    def run() -> tuple[float, float]:
        config.write_text(text)
        size = sum(f.stat().st_size for f in root.glob("week.db*")) / 1e6
        return size, footprint.one_run(config, graphs)[1]

    size, rss = await asyncio.to_thread(run)
    print(
        f"7 days of readings for {len(SPARKS)} Sparks every {PROBE_S:g} s "
        f"({steps * len(SPARKS)} writes): database {size:.1f} MB; the app's RSS after serving "
        f"the 1 h / 24 h / 7 d graphs ({points['1h']} / {points['24h']} / {points['7d']} "
        f"points per Spark): {rss:.1f} MB"
    )


async def page_latency(root: Path) -> None:
    from app.runtime import Runtime
    from app.web import create_app
    from tests.servers import serve

    config = parse_config({"storage": {"database": str(root / "pages.db")}}, {})
    app = create_app(Runtime(config))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        storage = app.state.runtime.storage
        for n in range(JOBS):
            storage.swaps.save(stored(n))
        await storage.db.flush()
        for label, params in (
            ("first page", {"limit": 50}),
            ("page from the middle", {"limit": 50, "before": f"{JOBS // 2:08x}"}),
        ):
            timings = []
            for _ in range(REQUESTS):
                started = time.perf_counter()
                r = await client.get("/api/swap", params=params)
                timings.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200 and len(r.json()["jobs"]) == 50
            timings.sort()
            print(
                f"GET /api/swap?limit=50 with {JOBS} jobs, {label}: median "
                f"{statistics.median(timings):.2f} ms, p95 {timings[int(0.95 * len(timings))]:.2f} ms"
            )


async def measure() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        root = Path(tmp)
        await write_costs(root)
        await page_latency(root)
        await seven_days(root)


def main() -> None:
    asyncio.run(measure())


if __name__ == "__main__":
    main()
