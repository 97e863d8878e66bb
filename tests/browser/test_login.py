"""The dashboard with API keys configured: the page sends the user to the login form, a wrong
key is refused with the server's sentence, a right one returns to a working dashboard whose
session cookie the page's scripts cannot read."""

from __future__ import annotations

import hashlib
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser.stack import demo_app, demo_sim

KEY = "sk-dashboard-0123456789abcdef0123456789abcdef"
KEYS = {
    "api_keys": [
        {"name": "owner", "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(), "scope": "admin"}
    ]
}


async def test_login_with_a_key(browser: Browser, tmp_path: Path) -> None:
    async with demo_sim(tmp_path) as sim, demo_app(sim, server=KEYS) as harness:
        url = str(harness.client.base_url).rstrip("/")
        context = await browser.new_context()
        page = await context.new_page()
        try:
            await page.goto(url + "/")
            await expect(page).to_have_url(url + "/static/login.html")
            await page.locator("[data-test=login-key]").fill("not-the-key")
            await page.locator("[data-test=login-submit]").click()
            await expect(page.locator("[data-test=login-error]")).to_have_text(
                "That API key is not valid."
            )
            await page.locator("[data-test=login-key]").fill(KEY)
            await page.locator("[data-test=login-submit]").click()
            await expect(page).to_have_url(url + "/")
            await expect(page.locator("[data-test=model]").first).to_be_visible()
            await expect(page.locator("#connection")).to_have_class("connection connection-live")
            assert await page.evaluate("document.cookie") == ""  # HttpOnly
            [cookie] = await context.cookies()
            assert cookie["name"] == "spark_session" and cookie["httpOnly"]
            assert cookie["sameSite"] == "Strict" and KEY not in cookie["value"]
        finally:
            await context.close()
