"""Screenshots of the dashboard on the demo stack, for the README and for looking at it.

    .venv/bin/python -m tests.browser.screenshot [OUT.png] [--width 1400] [--scheme dark|light]
        [--history-s 90]

Starts the demo stack (simulated Sparks over real SSH), opens the page, swaps a model by
clicking it, sends some chat traffic so the GPU plots move, takes a swap lock and registers two
schedules through the API, then saves a full-page screenshot (and a 390 px wide one beside it
with ``--phone``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

from tests.browser.stack import demo_app, demo_sim, launch_chromium
from tests.cluster import ClusterHarness

MODEL = "gemma-3-27b"


async def chat_traffic(harness: ClusterHarness, seconds: float) -> None:
    """A few streaming chat completions through the proxy, so utilisation rises and falls."""
    deadline = time.monotonic() + seconds
    body = {
        "model": MODEL,
        "stream": True,
        "max_tokens": 120,
        "messages": [{"role": "user", "content": "Summarise the day's volatility."}],
    }
    while time.monotonic() < deadline:
        async with harness.client.stream("POST", "/v1/chat/completions", json=body) as r:
            async for _ in r.aiter_bytes():
                pass
        await asyncio.sleep(4)


async def prepare(page: Page, harness: ClusterHarness, url: str, history_s: float) -> None:
    await page.goto(url + "/")
    await expect(page.locator("#connection")).to_have_class("connection connection-live")
    await asyncio.sleep(history_s / 3)  # idle GPUs first
    await page.locator(f'[data-test=model][data-key="{MODEL}"] [data-action=swap]').click()
    await page.locator("#confirm-dialog [data-test=confirm-ok]").click()
    result = page.locator("[data-test=swap-result]")
    await expect(result).to_contain_text("Ready", timeout=60_000)
    await chat_traffic(harness, history_s * 2 / 3)
    await harness.client.post(
        "/api/swap/lock",
        json={"holder": "openclaw-daily-vol", "ttl_seconds": 900, "note": "daily vol run"},
    )
    await harness.client.post(
        "/api/schedule",
        json={
            "id": "daily-vol",
            "name": "Daily Vol",
            "owner": "openclaw",
            "cron": "0 6 * * *",
            "description": "Swaps to the big model, generates the vol report",
        },
    )
    await harness.client.post(
        "/api/schedule",
        json={
            "id": "nightly-embed",
            "name": "Nightly re-embed",
            "owner": "rag-indexer",
            "cron": "30 2 * * 1-5",
            "description": "Re-embeds changed documents into Qdrant",
        },
    )
    await expect(page.locator("[data-test=lock-banner]")).to_be_visible()
    await expect(page.locator("[data-test=schedule]")).to_have_count(2)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.locator("[data-test=swap-log]").evaluate("el => { el.scrollTop = el.scrollHeight; }")


async def main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dashboard-shot-") as tmp:
        async with (
            demo_sim(Path(tmp), load_time=3.0) as sim,
            demo_app(sim) as harness,
            async_playwright() as playwright,
        ):
            browser = await launch_chromium(playwright)
            try:
                context = await browser.new_context(
                    viewport={"width": args.width, "height": 900}, color_scheme=args.scheme
                )
                page = await context.new_page()
                url = str(harness.client.base_url).rstrip("/")
                await prepare(page, harness, url, args.history_s)
                await page.screenshot(path=str(out), full_page=True)
                print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
                if args.phone:
                    phone = out.with_name(out.stem + "-phone.png")
                    await page.set_viewport_size({"width": 390, "height": 844})
                    await page.screenshot(path=str(phone), full_page=True)
                    print(f"wrote {phone} ({phone.stat().st_size // 1024} KiB)")
                await context.close()
            finally:
                with contextlib.suppress(Exception):
                    await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.browser.screenshot")
    parser.add_argument("out", nargs="?", default="docs/dashboard.png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--scheme", choices=["dark", "light"], default="dark")
    parser.add_argument("--history-s", type=float, default=90.0)
    parser.add_argument("--phone", action="store_true", help="also save a 390 px wide shot")
    asyncio.run(main(parser.parse_args()))
