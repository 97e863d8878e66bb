"""Downloads in the dashboard, in headless Chromium against the demo stack: adding a Hugging
Face model with "Download, then swap" shows live progress per Spark and ends with the model
serving and its weights complete on both Sparks."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import Dashboard

MIB = 1024 * 1024


async def test_add_with_download_then_swap_ends_serving_with_weights_on_both_sparks(
    dashboard: Dashboard,
) -> None:
    page = dashboard.page
    sim = dashboard.harness.sim
    sim.hub.set_size("sparksim/anything", 24 * MIB)
    sim.hub.inject("slow", bps=8 * MIB)  # slow enough to watch the progress
    await dashboard.wait_live()
    await page.locator("#add-model").click()
    form = page.locator("[data-test=add-model-form]")
    await expect(form).to_contain_text("copies them to every other Spark and verifies them")
    await form.get_by_label("Key").fill("anything")
    await form.get_by_label("Hugging Face repo").fill("sparksim/anything")
    await form.get_by_label("Then").select_option("swap")
    await form.get_by_role("button", name="Add model").click()
    await expect(form).to_have_count(0, timeout=15_000)

    card = dashboard.model("anything")
    progress = card.locator("[data-test=download]")
    await expect(progress).to_be_visible(timeout=15_000)
    await expect(progress).to_contain_text(re.compile(r"Downloading · (planning|downloading)"))
    await expect(progress.locator("[data-node=spark1]")).to_contain_text(
        re.compile(r"spark1 \w+ · \d+%")
    )
    await expect(progress).to_contain_text(
        re.compile(r"\d+(\.\d)? [KMG]iB of 48(\.0)? MiB"), timeout=15_000
    )
    await expect(progress).to_contain_text("Swaps to this model once the weights are verified.")
    await expect(card.locator("[data-action=download]")).to_be_disabled()

    # done: the swap follows, the model serves, both Sparks hold complete weights
    await expect(progress).to_have_count(0, timeout=60_000)
    await expect(card.locator(".pill", has_text="ready")).to_be_visible(timeout=60_000)
    for node in ("spark1", "spark2"):
        weights = card.locator(f"[data-test=weights][data-node={node}]")
        await expect(weights).to_have_attribute("data-state", "complete", timeout=15_000)
        await expect(weights).to_contain_text(re.compile(rf"{node} 24(\.\d)? MiB complete"))
    assert sim.running_model() == "anything"

    await card.locator("[data-action=verify]").click()
    await expect(card.locator("[data-test=verify-summary]")).to_have_text(
        re.compile(r"^Verified on every Spark \(sparksim/anything at [0-9a-f]{12}\)\.$"),
        timeout=15_000,
    )
    feed = page.locator("#feed")
    await expect(feed).to_contain_text("Download of sparksim/anything: done")
    dashboard.assert_clean()


async def test_a_failed_download_says_why_on_the_card(dashboard: Dashboard) -> None:
    page = dashboard.page
    await dashboard.wait_live()
    r = await dashboard.api.post("/api/models", json={"key": "gated", "repo": "sparksim/gated-one"})
    assert r.status_code == 201
    card = dashboard.model("gated")
    await expect(card.locator("[data-test=weights][data-node=spark1]")).to_have_attribute(
        "data-state", "absent", timeout=15_000
    )
    await card.locator("[data-action=download]").click()
    error = card.locator("[data-test=download-error]")
    await expect(error).to_have_text(
        "Download failed: sparksim/gated-one is a gated model: accept its terms on "
        "huggingface.co, then set a Hugging Face token in Configure Sparks.",
        timeout=30_000,
    )
    await expect(page.locator("#feed")).to_contain_text("Download of sparksim/gated-one: failed")
    dashboard.assert_clean()
