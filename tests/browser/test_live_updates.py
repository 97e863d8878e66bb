"""The dashboard updates itself all the time (a GPU reading every second here, a state event at
every step of a swap). What did not change must come through those updates as the same nodes:
a button rebuilt between mousedown and mouseup loses the click, a rebuilt button loses keyboard
focus, and rebuilt text loses the user's selection."""

from __future__ import annotations

from playwright.async_api import Locator, expect

from tests.browser.conftest import Dashboard

UPDATE_TIMEOUT_MS = 20_000


async def _next_status_update(dashboard: Dashboard) -> None:
    """Return once a status update has been rendered. Every one redraws the Sparks' GPU charts,
    and the model cards render from the same update, so a replaced chart proves it ran."""
    card = dashboard.page.locator("[data-test=spark]").first
    await expect(card.locator(".chart-frame")).to_be_visible(timeout=UPDATE_TIMEOUT_MS)
    await card.locator(".chart-frame").evaluate("el => { el.dataset.seen = '1'; }")
    fresh = card.locator(".chart-frame:not([data-seen])")
    await expect(fresh).to_be_visible(timeout=UPDATE_TIMEOUT_MS)


async def _press(dashboard: Dashboard, button: Locator) -> None:
    box = await button.bounding_box()
    assert box is not None
    await dashboard.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await dashboard.page.mouse.down()


async def test_a_model_card_keeps_focus_and_a_click_held_across_an_update(
    dashboard: Dashboard,
) -> None:
    await dashboard.wait_live()
    swap = dashboard.model("qwen3-32b").locator("[data-action=swap]")
    await expect(swap).to_be_enabled()

    await swap.focus()
    await _next_status_update(dashboard)
    await expect(swap).to_be_focused()

    # The button is pressed, an update lands, then it is released: that is still a click.
    await _press(dashboard, swap)
    await _next_status_update(dashboard)
    await dashboard.page.mouse.up()
    ok = dashboard.page.locator("#confirm-dialog [data-test=confirm-ok]")
    await expect(ok).to_be_visible()
    await ok.click()
    result = dashboard.page.locator("[data-test=swap-result]")
    await expect(result).to_contain_text("Ready", timeout=UPDATE_TIMEOUT_MS)
    assert dashboard.harness.sim.running_model() == "qwen3-32b"
    dashboard.assert_clean()


async def test_the_cancel_button_keeps_focus_while_the_page_updates_around_it(
    dashboard: Dashboard,
) -> None:
    page = dashboard.page
    await dashboard.wait_live()
    dashboard.harness.sim.set_load_time(30.0)
    r = await dashboard.api.post("/api/swap", json={"model_key": "gpt-oss-120b"})
    assert r.status_code == 202
    cancel = page.locator("[data-test=swap-cancel]")
    await expect(cancel).to_be_visible(timeout=UPDATE_TIMEOUT_MS)
    await cancel.focus()
    # A catalog change elsewhere re-renders the swap card (model names) and every model card.
    r = await dashboard.api.put("/api/models/qwen3-32b/knobs", json={"max_model_len": 12345})
    assert r.status_code == 200
    await expect(dashboard.model("qwen3-32b")).to_contain_text("12,345")
    await _next_status_update(dashboard)
    await expect(cancel).to_be_focused()
    await page.keyboard.press("Enter")
    await dashboard.confirm()
    result = page.locator("[data-test=swap-result]")
    await expect(result).to_contain_text("Cancelled", timeout=UPDATE_TIMEOUT_MS)
    dashboard.assert_clean()


async def test_a_selected_service_url_stays_selected_through_probe_rounds(
    dashboard: Dashboard,
) -> None:
    await dashboard.wait_live()
    url = dashboard.page.locator("[data-test=service-tile] .tile-url").first
    await expect(url).to_be_visible(timeout=UPDATE_TIMEOUT_MS)
    await url.select_text()
    selected = await dashboard.page.evaluate("String(window.getSelection())")
    assert selected == await url.text_content()
    await _next_status_update(dashboard)
    assert await dashboard.page.evaluate("String(window.getSelection())") == selected
    dashboard.assert_clean()
