"""The dashboard's swap history panel, vLLM log viewer, GPU chart ranges and webhook card, in
headless Chromium against the demo stack."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import Dashboard

SWAP_TIMEOUT_MS = 30_000


async def test_history_panel_shows_who_what_how_long_and_outcome(dashboard: Dashboard) -> None:
    page = dashboard.page
    await dashboard.wait_live()
    # One swap from the dashboard, one from a script with its own User-Agent that fails.
    await dashboard.model("qwen3-32b").locator("[data-action=swap]").click()
    await dashboard.confirm()
    rows = page.locator("[data-test=history-row]")
    await expect(rows.first.locator(".pill")).to_have_text("ready", timeout=SWAP_TIMEOUT_MS)
    await expect(rows.first).to_contain_text("Qwen3 32B")
    await expect(rows.first.locator("[data-test=history-origin]")).to_have_text(
        "Dashboard (127.0.0.1)"
    )
    # Each phase the swap went through is a segment of the bar, sized by its time.
    segments = rows.first.locator(".phase-seg")
    await expect(segments).to_have_count(5)
    assert "loading" in (await segments.nth(3).get_attribute("title") or "")

    dashboard.harness.sim.inject("spark1", "launch_fail", exit_code=3)
    r = await dashboard.api.post(
        "/api/swap", json={"model_key": "gemma-3-27b"}, headers={"User-Agent": "vol-cron/2.1"}
    )
    assert r.status_code == 202
    failed = rows.first
    await expect(failed.locator(".pill")).to_have_text("failed", timeout=SWAP_TIMEOUT_MS)
    await expect(failed.locator("[data-test=history-origin]")).to_contain_text("vol-cron/2.1")
    await expect(failed).to_contain_text("launch-cluster.sh exited with status 3")
    await expect(rows).to_have_count(2)
    dashboard.assert_clean()


async def test_history_survives_a_reload_and_pages_back(dashboard: Dashboard) -> None:
    page = dashboard.page
    storage = dashboard.harness.runtime.storage
    # 60 older jobs straight into the history (the panel shows 50, then loads the rest).
    from tests.integration.test_history import stored

    for n in range(60):
        storage.swaps.save(stored(n))
    await storage.db.flush()
    await page.reload()
    rows = page.locator("[data-test=history-row]")
    await expect(rows).to_have_count(50)
    await page.locator("[data-test=history-more]").click()
    await expect(rows).to_have_count(60)
    await expect(rows.last).to_have_attribute("data-job", "00000000")
    await expect(page.locator("[data-test=history-more]")).to_have_count(0)
    dashboard.assert_clean()


async def test_log_viewer_merges_sparks_follows_pauses_and_filters(dashboard: Dashboard) -> None:
    page = dashboard.page
    await dashboard.wait_live()
    assert (await dashboard.harness.swap_and_wait("gemma-3-27b"))["state"] == "ready"
    await page.locator("[data-test=logs] summary").click()
    view = page.locator("[data-test=logs-view]")
    await expect(view.locator("[data-test=log-line]").first).to_be_visible()
    await expect(view).to_contain_text("Application startup complete")

    def append(node: str, line: str) -> None:
        sim = dashboard.harness.sim
        with open(sim.node(node).paths.container_log("vllm_node"), "a", encoding="utf-8") as log:
            log.write(line + "\n")

    append("spark2", "INFO 12-31 23:59:58 [w.py:1] worker says hello")
    worker_line = view.locator("[data-test=log-line][data-node=spark2]", has_text="worker says")
    await expect(worker_line).to_be_visible()
    await expect(worker_line.locator(".logs-node")).to_have_text("spark2")

    # Pause: new lines wait; Follow shows them.
    await page.locator("[data-test=logs-pause]").click()
    append("spark1", "INFO 12-31 23:59:59 [h.py:1] arrived during the pause")
    await expect(page.locator("[data-test=logs-status]")).to_contain_text("1 new while paused")
    await expect(view).not_to_contain_text("arrived during the pause")
    await page.locator("[data-test=logs-pause]").click()
    await expect(view).to_contain_text("arrived during the pause")

    # Merged by time: the head's 23:59:59 line comes after the worker's 23:59:58 one.
    texts = await view.locator("[data-test=log-line]").all_inner_texts()
    worker = next(i for i, t in enumerate(texts) if "worker says hello" in t)
    paused = next(i for i, t in enumerate(texts) if "arrived during the pause" in t)
    assert worker < paused

    await page.locator("[data-test=logs-filter]").fill("worker says")
    await expect(view.locator("[data-test=log-line]")).to_have_count(1)

    async with page.expect_download() as info:
        await page.locator("[data-test=logs-download]").click()
    download = await info.value
    text = (await download.path()).read_text()  # type: ignore[union-attr]
    assert text == "spark2\tINFO 12-31 23:59:58 [w.py:1] worker says hello\n"
    assert download.suggested_filename == "vllm-all.log"

    # One Spark only.
    await page.locator("[data-test=logs-filter]").fill("")
    await page.locator("[data-test=logs-node]").select_option("spark1")
    await expect(view.locator("[data-test=log-line]").first).to_be_visible()
    assert set(
        await view.locator("[data-test=log-line]").evaluate_all(
            "els => els.map(e => e.dataset.node)"
        )
    ) == {"spark1"}
    dashboard.assert_clean()


async def test_gpu_chart_axes_hover_and_ranges(dashboard: Dashboard) -> None:
    page = dashboard.page
    chart = page.locator("[data-test=spark]").first.locator(".chart-frame")
    await expect(chart).to_be_visible(timeout=10_000)
    await expect(chart.locator(".chart-y")).to_contain_text("100 %")
    await expect(chart.locator("[data-test=chart-x] span")).to_have_count(5)
    await chart.locator("svg").hover()
    tip = chart.locator("[data-test=chart-tip]")
    await expect(tip).to_be_visible()
    await expect(tip).to_have_text(re.compile(r"\d\d:\d\d:\d\d · GPU (\d+ %|—) · memory"))
    # Every update rebuilds the chart; a pointer resting on it keeps its reading in view.
    await chart.evaluate("el => { el.dataset.stale = '1'; }")
    fresh = page.locator("[data-test=spark]").first.locator(".chart-frame:not([data-stale])")
    await expect(fresh).to_be_visible(timeout=20_000)
    await expect(fresh.locator("[data-test=chart-tip]")).to_be_visible()
    await expect(fresh.locator("[data-test=chart-tip]")).to_contain_text("GPU")
    for span in ("24h", "7d", "1h"):
        await page.locator(f"[data-test=range-{span}]").click()
        await expect(page.locator(f"[data-test=range-{span}]")).to_have_attribute(
            "aria-pressed", "true"
        )
    dashboard.assert_clean()
