"""GPU readings on disk (full rate for an hour, minute averages for a week) and the load-time
statistics computed from the swap history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from app.storage import Storage, StoredJob
from app.storage.swaps import quantiles

T0 = datetime(2026, 6, 17, 0, 0, tzinfo=UTC).timestamp()


def figures(util: float) -> tuple[float, float, float, float, float]:
    return (util, 1000.0, 2000.0, 40.0, 90.0)


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Storage(str(tmp_path / "h.db"), now=lambda: datetime.fromtimestamp(T0, UTC))
    s.db.start()
    yield s
    s.db.close()


async def test_readings_become_minute_averages_and_expire(store: Storage) -> None:
    # Ten minutes at one reading per 5 s; utilisation equals the minute number.
    for second in range(0, 600, 5):
        store.gpu.add("spark1", T0 + second, figures(float(second // 60)))
    store.gpu.add("spark1", T0 + 600, None)  # unreachable: a reading with no figures
    now = T0 + 600
    full = await store.gpu.rows(["spark1"], 3600, now)
    assert len(full["spark1"]) == 121
    assert full["spark1"][-1].util is None and full["spark1"][0].util == 0.0
    day = await store.gpu.rows(["spark1"], 86400, now)
    points = day["spark1"]
    # 24 h at 720 points is one point per two minutes: (0+1)/2, (2+3)/2, ...
    assert [p.util for p in points] == [0.5, 2.5, 4.5, 6.5, 8.5]
    assert [p.t for p in points] == [T0 + 120 * i for i in range(5)]
    assert store.gpu.bucket_s(86400) == 120 and store.gpu.bucket_s(7 * 86400) == 840

    # Two hours later the full-rate rows are gone, the averages stay; after 8 days they go too.
    later = now + 7200
    store.gpu.add("spark1", later, figures(50.0))
    assert len((await store.gpu.rows(["spark1"], 3600, later))["spark1"]) == 1
    day = (await store.gpu.rows(["spark1"], 86400, later))["spark1"]
    # The unreachable minute is averaged too: a null point, a gap in the graph.
    assert [p.util for p in day] == [0.5, 2.5, 4.5, 6.5, 8.5, None]
    store.gpu.add("spark1", later + 8 * 86400, figures(1.0))
    assert (await store.gpu.rows(["spark1"], 7 * 86400, later + 8 * 86400))["spark1"][:1] == []


async def test_sparks_are_kept_apart(store: Storage) -> None:
    for second in range(0, 130, 10):
        store.gpu.add("spark1", T0 + second, figures(10.0))
        store.gpu.add("spark2", T0 + second, figures(90.0))
    rows = await store.gpu.rows(["spark1", "spark2", "spark3"], 86400, T0 + 130)
    assert {p.util for p in rows["spark1"]} == {10.0}
    assert {p.util for p in rows["spark2"]} == {90.0}
    assert rows["spark3"] == []


def test_quantiles() -> None:
    assert quantiles([]) == quantiles(())
    assert quantiles([]).median_s is None
    q = quantiles([float(n) for n in range(1, 11)])
    assert (q.median_s, q.p90_s) == (5.5, 9.0)
    assert quantiles([7.0]).p90_s == 7.0


async def test_model_stats_use_successful_real_swaps_only(store: Storage) -> None:
    def save(job_id: str, state: str, total: float, loading: float, dry_run: bool = False) -> None:
        view = {
            "job_id": job_id,
            "state": state,
            "finished_at": f"2026-06-17T00:00:{int(total):02d}+00:00",
            "timings": {"loading_s": loading, "preflight_s": 1.0, "draining_s": None},
        }
        store.swaps.save(
            StoredJob(
                job_id,
                "gemma",
                state,
                dry_run,
                "2026-06-17T00:00:00+00:00",
                None,
                total,
                msgspec.json.encode(view),
            )
        )

    for n, total in enumerate([30.0, 40.0, 50.0, 60.0]):
        save(f"0000000{n}", "ready", total, total - 10)
    save("000000f0", "failed", 999.0, 999.0)
    save("000000f1", "ready", 999.0, 999.0, dry_run=True)
    stats = await store.swaps.stats("gemma")
    assert stats.samples == 4
    assert (stats.total.median_s, stats.total.p90_s) == (45.0, 60.0)
    assert (stats.loading.median_s, stats.loading.p90_s) == (35.0, 50.0)
    assert set(stats.phases) == {"loading_s", "preflight_s"}
    assert stats.last_ready_at == "2026-06-17T00:00:60+00:00"
    empty = await store.swaps.stats("other")
    assert empty.samples == 0 and empty.total.median_s is None
