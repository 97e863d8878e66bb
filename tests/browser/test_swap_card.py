"""The swap card shows what clients of the proxy experience: requests held for the incoming
model, and a failed swap rolling back to the previous model."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from app.swap.jobs import JobRecord, Phase
from tests.browser.conftest import Dashboard

SWAP_TIMEOUT_MS = 45_000


async def test_held_requests_then_a_rollback_in_the_swap_card(dashboard: Dashboard) -> None:
    page, harness = dashboard.page, dashboard.harness
    sim = harness.sim
    await dashboard.wait_live()
    assert (await harness.swap_and_wait("gemma-3-27b"))["state"] == "ready"

    sim.set_load_time(3.0)
    job_id = (await harness.swap("qwen3-32b")).json()["job_id"]
    section = page.locator("[data-test=swap-section]")
    await expect(section.locator("h2")).to_have_text("Swapping to Qwen3 32B")
    held = asyncio.create_task(
        harness.client.post(
            "/v1/chat/completions",
            json={"model": "qwen3-32b", "messages": [{"role": "user", "content": "hi"}]},
        )
    )
    await expect(section.locator("[data-test=swap-held]")).to_have_text(
        "1 request waiting for Qwen3 32B; served as soon as it is ready."
    )
    await expect(section.locator("[data-test=swap-result]")).to_contain_text(
        "Ready", timeout=SWAP_TIMEOUT_MS
    )
    await expect(section.locator("[data-test=swap-held]")).to_be_hidden()
    assert (await held).status_code == 200
    await harness.wait_job(job_id)

    sim.set_load_time(0.3)
    sim.inject("spark1", "launch_fail", exit_code=3)

    def clear_at_rollback(job: JobRecord, phase: Phase) -> None:
        if phase == Phase.ROLLING_BACK:
            sim.clear_faults()

    harness.runtime.engine.phase_listeners.append(clear_at_rollback)
    await harness.swap("llama-3.3-70b")
    result = section.locator("[data-test=swap-result]")
    await expect(result).to_contain_text("Failed:", timeout=SWAP_TIMEOUT_MS)
    await expect(result.locator("[data-test=swap-rollback]")).to_have_text(
        " Rolled back: Qwen3 32B is serving again."
    )
    await expect(section.locator(".step[data-phase=rolling_back]")).to_have_class("step step-done")
    await expect(section.locator(".step-failed")).to_have_attribute("data-phase", "launching")
    await expect(page.locator("[data-test=running-model]")).to_have_text("Qwen3 32B")
    dashboard.assert_clean()
