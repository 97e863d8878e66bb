"""The LAN dashboard in a real headless Chromium against the demo stack (simulated Sparks over
real SSH). Each test does what a person at the page would do and checks what they would see.
Waits are Playwright's auto-retrying expectations, never sleeps."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, expect

from app.runtime import Runtime
from app.web import create_app
from tests.browser.conftest import Dashboard
from tests.browser.stack import FAST, PROBES, demo_sim, serve_on_port
from tests.cluster import sim_config

SWAP_TIMEOUT_MS = 45_000


async def test_page_loads_with_sparks_service_tiles_and_models(dashboard: Dashboard) -> None:
    page = dashboard.page
    assert dashboard.response is not None
    headers = dashboard.response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    await dashboard.wait_live()

    sparks = page.locator("[data-test=spark]")
    await expect(sparks).to_have_count(2)
    for name in ("spark1", "spark2"):
        spark = sparks.filter(has_text=name)
        await expect(spark.locator(".pill", has_text=re.compile(r"^reachable$"))).to_be_visible()
        await expect(spark.locator(".stat-value").first).to_have_text(re.compile(r"^\d+ %$"))
        await expect(spark.locator("svg.chart")).to_be_visible()

    endpoints = (await dashboard.api.get("/api/endpoints")).json()["endpoints"]
    enabled = [e for e in endpoints if not e["disabled"]]
    assert any(e["disabled"] for e in endpoints)  # qdrant is disabled in this stack
    tiles = page.locator("[data-test=service-tile]")
    await expect(tiles).to_have_count(len(enabled))
    for endpoint in enabled:
        await expect(tiles.filter(has_text=endpoint["name"])).to_be_visible()
    await expect(tiles.filter(has_text="Qdrant")).to_have_count(0)
    await expect(tiles.filter(has_text="Parakeet ASR").locator(".pill")).to_have_text("up")
    await expect(tiles.filter(has_text="Parakeet ASR")).to_contain_text(re.compile(r"\d+ ms"))

    models = (await dashboard.api.get("/api/models")).json()["models"]
    await expect(page.locator("[data-test=model]")).to_have_count(len(models))
    local = dashboard.model("demo-finetune")
    await expect(local.locator(".pill", has_text="local")).to_be_visible()
    await expect(local).to_contain_text("/models/demo-finetune")
    await expect(local.locator("[data-action=delete-disk]")).to_be_disabled()
    await expect(local).to_contain_text("never deletes local model directories")
    gemma = dashboard.model("gemma-3-27b")
    await expect(gemma).to_contain_text("google/gemma-3-27b-it")
    await expect(gemma).to_contain_text(re.compile(r"spark1 \d+(\.\d)? [KMG]iB"))
    await expect(gemma.locator(".chip", has_text="TP")).to_be_visible()
    dashboard.assert_clean()


async def test_swap_started_by_clicking_shows_progress_and_log_until_ready(
    dashboard: Dashboard,
) -> None:
    page = dashboard.page
    await dashboard.wait_live()
    await dashboard.model("qwen3-32b").locator("[data-action=swap]").click()
    await expect(page.locator("#confirm-dialog")).to_contain_text("Swap to Qwen3 32B?")
    await dashboard.confirm()

    section = page.locator("[data-test=swap-section]")
    await expect(section).to_be_visible()
    await expect(section.locator("h2")).to_have_text("Swapping to Qwen3 32B")
    # Mid-swap: the loading step is the current one and the bar has moved.
    await expect(section.locator(".step-current")).to_have_attribute(
        "data-phase", "loading", timeout=SWAP_TIMEOUT_MS
    )
    progress = int(
        await section.locator("[data-test=swap-progress]").get_attribute("aria-valuenow") or 0
    )
    assert 0 < progress < 100
    await expect(section.locator(".step-done")).to_have_count(3)
    await expect(section.locator(".log-line").first).to_be_visible()
    await expect(section.locator("[data-test=swap-cancel]")).to_be_visible()

    result = section.locator("[data-test=swap-result]")
    await expect(result).to_contain_text("Ready", timeout=SWAP_TIMEOUT_MS)
    await expect(section.locator(".step-done")).to_have_count(5)
    await expect(section.locator(".progress-text")).to_have_text("100 %")
    assert await section.locator(".log-line").count() >= 5
    await expect(page.locator("[data-test=running-model]")).to_have_text("Qwen3 32B")
    await expect(dashboard.model("qwen3-32b").locator(".pill", has_text="ready")).to_be_visible()
    await expect(dashboard.model("qwen3-32b").locator("[data-action=delete-disk]")).to_be_disabled()
    jobs = page.locator("[data-test=job]")
    await expect(jobs.first).to_contain_text("Qwen3 32B")
    await expect(jobs.first.locator(".pill").first).to_have_text("ready")
    await expect(
        page.locator("[data-test=feed-item]", has_text="Swap to qwen3-32b: ready")
    ).to_be_visible()
    dashboard.assert_clean()


async def test_swap_progress_survives_a_page_reload(dashboard: Dashboard) -> None:
    page = dashboard.page
    dashboard.harness.sim.set_load_time(4.0)
    await dashboard.model("gemma-3-27b").locator("[data-action=swap]").click()
    await dashboard.confirm()
    section = page.locator("[data-test=swap-section]")
    await expect(section.locator(".step-current")).to_have_attribute(
        "data-phase", "loading", timeout=SWAP_TIMEOUT_MS
    )
    first_line = await section.locator(".log-line").first.text_content()
    lines_before = await section.locator(".log-line").count()

    await page.reload()
    await expect(section).to_be_visible()
    await expect(section.locator("h2")).to_have_text(re.compile(r"Gemma 3 27B"))
    # The stream replays from its first event: the log from before the reload is back.
    await expect(section.locator(".log-line").first).to_have_text(first_line or "")
    assert await section.locator(".log-line").count() >= lines_before
    await expect(section.locator("[data-test=swap-result]")).to_contain_text(
        "Ready", timeout=SWAP_TIMEOUT_MS
    )
    await expect(section.locator(".step-done")).to_have_count(5)
    dashboard.assert_clean()


async def test_failed_swap_shows_the_failed_step_and_the_error_sentence(
    dashboard: Dashboard,
) -> None:
    page = dashboard.page
    dashboard.harness.sim.inject("spark2", "launch_fail", exit_code=3)
    await dashboard.model("llama-3.3-70b").locator("[data-action=swap]").click()
    await dashboard.confirm()
    section = page.locator("[data-test=swap-section]")
    result = section.locator("[data-test=swap-result]")
    await expect(result).to_contain_text("Failed:", timeout=SWAP_TIMEOUT_MS)
    job = (await dashboard.api.get("/api/swap")).json()["jobs"][0]
    assert job["state"] == "failed" and job["error"]
    await expect(result).to_contain_text(job["error"])
    await expect(section.locator("h2")).to_have_text("Swap to Llama 3.3 70B Instruct failed")
    await expect(section.locator(".step-failed")).to_have_attribute("data-phase", "launching")
    await expect(section.locator(".step-done")).to_have_count(2)
    await expect(page.locator("[data-test=job]").first.locator(".job-error")).to_have_text(
        job["error"]
    )
    dashboard.assert_clean()


async def test_cancel_from_the_progress_panel(dashboard: Dashboard) -> None:
    page = dashboard.page
    dashboard.harness.sim.set_load_time(30.0)
    await dashboard.model("gpt-oss-120b").locator("[data-action=swap]").click()
    await dashboard.confirm()
    section = page.locator("[data-test=swap-section]")
    await expect(section.locator(".step-current")).to_have_attribute(
        "data-phase", "loading", timeout=SWAP_TIMEOUT_MS
    )
    await section.locator("[data-test=swap-cancel]").click()
    await expect(page.locator("#confirm-dialog")).to_contain_text("left with no model running")
    await dashboard.confirm()
    await expect(section.locator("[data-test=swap-result]")).to_contain_text(
        "Cancelled", timeout=SWAP_TIMEOUT_MS
    )
    await expect(section.locator("h2")).to_have_text("Swap to gpt-oss 120B cancelled")
    await expect(section.locator("[data-test=swap-cancel]")).to_have_count(0)
    await section.locator("[data-test=swap-dismiss]").click()
    await expect(section).to_be_hidden()
    dashboard.assert_clean()


async def test_lock_taken_through_the_api_shows_the_banner_and_blocks_swap(
    dashboard: Dashboard,
) -> None:
    page = dashboard.page
    await dashboard.wait_live()
    r = await dashboard.api.post(
        "/api/swap/lock",
        json={"holder": "nightly-batch", "ttl_seconds": 600, "note": "re-embedding the archive"},
    )
    assert r.status_code == 200

    banner = page.locator("[data-test=lock-banner]")
    await expect(banner).to_be_visible(timeout=2000)
    await expect(banner.locator("[data-test=lock-holder]")).to_have_text("nightly-batch")
    await expect(banner.locator("[data-test=lock-note]")).to_contain_text(
        "re-embedding the archive"
    )
    await expect(banner.locator("[data-test=lock-countdown]")).to_have_text(
        re.compile(r"^(9|10):\d\d$")
    )
    await expect(page.locator("[data-action=swap]:enabled")).to_have_count(0)
    blocked = dashboard.model("gemma-3-27b").locator("[data-test=swap-blocked]")
    await expect(blocked).to_contain_text("Locked by nightly-batch until")
    # Validate is never blocked by the lock.
    await expect(dashboard.model("gemma-3-27b").locator("[data-action=validate]")).to_be_enabled()

    await banner.locator("[data-test=force-release]").click()
    await expect(page.locator("#confirm-dialog")).to_contain_text("nightly-batch")
    await dashboard.confirm()
    await expect(banner).to_be_hidden()
    await expect(page.locator("[data-action=swap]:disabled")).to_have_count(0)
    assert (await dashboard.api.get("/api/swap/lock")).json() == {"held": False}
    dashboard.assert_clean()


async def test_schedule_registered_through_the_api_appears(dashboard: Dashboard) -> None:
    page = dashboard.page
    await dashboard.wait_live()
    r = await dashboard.api.post(
        "/api/schedule",
        json={
            "id": "weekly-warmup",
            "name": "Weekly warm-up",
            "owner": "openclaw",
            "cron": "0 6 * * 1",
            "description": "Swaps to the big model before the Monday report",
        },
    )
    assert r.status_code == 200
    card = page.locator("[data-test=schedule]", has_text="Weekly warm-up")
    await expect(card).to_be_visible(timeout=2000)
    await expect(card).to_contain_text("openclaw")
    await expect(card.locator("code")).to_have_text("0 6 * * 1")
    await expect(card).to_contain_text("On Mondays at 06:00 UTC")
    await expect(card).to_contain_text("Swaps to the big model before the Monday report")
    await expect(card.locator("[data-rel]")).to_have_text(re.compile(r"^in \d+ (min|h|d)"))

    assert (await dashboard.api.delete("/api/schedule/weekly-warmup")).status_code == 200
    await expect(card).to_have_count(0)
    dashboard.assert_clean()


async def test_adding_a_local_model_outside_the_roots_shows_the_servers_400(
    dashboard: Dashboard,
) -> None:
    page = dashboard.page
    body = {"key": "outside-model", "local_path": "/opt/elsewhere/finetune"}
    expected = await dashboard.api.post("/api/models", json=body)
    assert expected.status_code == 400
    count = await page.locator("[data-test=model]").count()

    await page.locator("#add-local").click()
    form = page.locator("[data-test=add-local-form]")
    await form.get_by_label("Key").fill(body["key"])
    await form.get_by_label("Local path").fill(body["local_path"])
    await form.get_by_role("button", name="Add model").click()
    error = form.locator("[data-field-error=local_path]")
    await expect(error).to_have_text(expected.json()["detail"])
    await expect(error).to_contain_text("model roots")
    await expect(form.get_by_label("Local path")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("[data-test=model]")).to_have_count(count)

    # The same form accepts a directory inside a root.
    await form.get_by_label("Key").fill("demo-finetune-2")
    local_path = (await dashboard.api.get("/api/models")).json()["models"][-1]["local_path"]
    await form.get_by_label("Local path").fill(local_path)
    await form.get_by_role("button", name="Add model").click()
    await expect(form).to_have_count(0, timeout=15_000)
    await expect(dashboard.model("demo-finetune-2")).to_be_visible()
    dashboard.assert_clean(answered=(400,))


async def test_hostile_strings_render_as_text_and_run_nothing(dashboard: Dashboard) -> None:
    page = dashboard.page
    evil = "<img src=x onerror=alert(1)>"
    await dashboard.wait_live()
    r = await dashboard.api.post(
        "/api/schedule",
        json={"id": "xss", "name": evil, "owner": evil, "cron": evil, "description": evil},
    )
    assert r.status_code == 200
    assert (
        await dashboard.api.post("/api/swap/lock", json={"holder": evil, "note": evil})
    ).status_code == 200
    r = await dashboard.api.post(
        "/api/models", json={"key": "hostile", "name": evil, "repo": "org/hostile-model"}
    )
    assert r.status_code == 201, r.text

    await expect(page.locator("[data-test=schedule-name]")).to_have_text(evil)
    await expect(page.locator("[data-test=lock-holder]")).to_have_text(evil)
    await expect(dashboard.model("hostile").locator(".model-name")).to_have_text(evil)
    await expect(page.locator("[data-test=feed-item]", has_text=evil).first).to_be_visible()
    # Only the page's own logo is an image; nothing was parsed as markup, no handler ran.
    assert await page.evaluate("document.querySelectorAll('img').length") == 1
    assert await page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert dashboard.dialogs == []
    dashboard.assert_clean()


async def test_validate_edit_knobs_and_dry_run_from_a_model_card(dashboard: Dashboard) -> None:
    card = dashboard.model("gemma-3-27b")
    await card.locator("[data-action=validate]").click()
    checks = card.locator("[data-test=checks] .check")
    await expect(card.locator("[data-test=validate-summary]")).to_have_text(
        "All checks passed — ready to swap.", timeout=20_000
    )
    expected = (await dashboard.api.post("/api/swap/gemma-3-27b/validate")).json()["checks"]
    await expect(checks).to_have_count(len(expected))
    first = checks.first
    await expect(first.locator(".check-icon")).to_have_text("✓")
    await expect(first.locator(".check-name")).to_have_text(expected[0]["name"])
    await expect(first.locator(".check-detail")).to_have_text(expected[0]["detail"])

    await card.locator("[data-action=knobs]").click()
    form = card.locator("[data-test=knobs-form]")
    await form.get_by_label("Max model length").fill("0")
    await form.get_by_role("button", name="Save knobs").click()
    await expect(form.locator("[data-field-error=max_model_len]")).to_contain_text("max_model_len")
    await form.get_by_label("Max model length").fill("16384")
    await form.get_by_role("button", name="Save knobs").click()
    await expect(form).to_have_count(0)
    await expect(card.locator(".chip", has_text="max len")).to_contain_text("16,384")
    model = next(
        m
        for m in (await dashboard.api.get("/api/models")).json()["models"]
        if m["key"] == "gemma-3-27b"
    )
    assert model["knobs"]["max_model_len"] == 16384

    await card.locator("[data-action=dry-run]").click()
    await expect(card.locator(".commands li").first).to_be_visible()
    await expect(card.locator(".commands")).to_contain_text("--max-model-len")
    dashboard.assert_clean(answered=(400,))


async def test_phone_width_has_no_horizontal_scroll(dashboard: Dashboard) -> None:
    page = dashboard.page
    await page.set_viewport_size({"width": 390, "height": 844})
    await dashboard.api.post("/api/swap/lock", json={"holder": "phone-test", "note": "n" * 200})
    await expect(page.locator("[data-test=lock-banner]")).to_be_visible()
    await page.locator("#add-local").click()
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    dashboard.assert_clean()


async def test_unconfigured_appliance_says_to_run_configure_sparks(
    browser: Browser, spark_app: Any
) -> None:
    async with spark_app(config={"vllm": {"port": ""}}) as client:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        board = Dashboard(page, None, str(client.base_url))
        await page.goto(str(client.base_url).rstrip("/") + "/")
        await expect(page.locator("[data-test=not-configured]")).to_contain_text(
            "No Sparks configured — run Configure Sparks"
        )
        await expect(page.locator("[data-test=warning]")).to_contain_text(
            "vllm.port is blank; using 8888."
        )
        await expect(page.locator("#sparks")).to_contain_text("No Sparks configured yet.")
        await expect(page.locator("[data-test=model]").first).to_be_visible()
        await expect(page.locator("[data-action=swap]:enabled")).to_have_count(0)
        await expect(page.locator("[data-test=swap-blocked]").first).to_contain_text(
            "No Sparks configured"
        )
        await expect(page.locator("#connection")).to_have_class("connection connection-live")
        board.assert_clean()
        await context.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_page_reconnects_and_refetches_after_the_server_restarts(
    browser: Browser, tmp_path: Path
) -> None:
    async with demo_sim(tmp_path) as sim:
        config = sim_config(sim)
        port = _free_port()
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        connection = page.locator("#connection")
        banner = page.locator("[data-test=lock-banner]")

        first = create_app(Runtime(config, timings=FAST, probes=PROBES))
        async with serve_on_port(first, port) as url:
            await page.goto(url + "/")
            await expect(connection).to_have_class("connection connection-live")
            await page.request.post(url + "/api/swap/lock", data={"holder": "before-restart"})
            await expect(banner).to_be_visible(timeout=2000)
        await expect(connection).to_have_class("connection connection-reconnecting")

        # A new process: the lock (in memory by contract) is gone, and the page must notice.
        second = create_app(Runtime(config, timings=FAST, probes=PROBES))
        async with serve_on_port(second, port):
            await expect(connection).to_have_class("connection connection-live", timeout=20_000)
            await expect(banner).to_be_hidden()
            await expect(page.locator("[data-test=spark]")).to_have_count(2)
        await context.close()
        # The browser logged the cut streams and refused connections of the restart (net::…
        # errors of its own); the page itself logged nothing.
        assert [e for e in errors if "net::ERR_" not in e] == []


async def test_spark_tiles_show_the_cluster_link_address_when_one_is_set(
    browser: Browser, tmp_path: Path
) -> None:
    async with demo_sim(tmp_path) as sim:
        sparks = sim.config_dict()["sparks"]
        linked = [{**sparks[0], "cluster_address": "192.168.100.10"}, sparks[1]]
        config = sim_config(sim, sparks=linked)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        async with serve_on_port(
            create_app(Runtime(config, timings=FAST, probes=PROBES)), _free_port()
        ) as url:
            await page.goto(url + "/")
            tiles = page.locator("[data-test=spark]")
            await expect(tiles.filter(has_text="spark1")).to_contain_text(
                f"{sparks[0]['host']} · link 192.168.100.10"
            )
            other = tiles.filter(has_text="spark2")
            await expect(other).to_contain_text(sparks[1]["host"])
            await expect(other).not_to_contain_text("link")
        await context.close()
