"""Fixtures for the dashboard tests: the demo stack, a headless Chromium, and the page loaded.

Every test here needs Debian's Chromium at /usr/bin/chromium (CI installs it); without it they
are skipped with that reason. Playwright is driven through its async API, in the test's own
event loop, next to the app it talks to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Response,
    async_playwright,
    expect,
)

from tests.browser.stack import CHROMIUM, demo_app, demo_sim, launch_chromium
from tests.cluster import ClusterHarness

NO_CHROMIUM = f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=NO_CHROMIUM))


class Dashboard:
    """The loaded page plus what it reported: console errors, uncaught errors, dialogs."""

    def __init__(self, page: Page, harness: ClusterHarness | None, url: str) -> None:
        self.page = page
        self._harness = harness
        self.url = url
        self.response: Response | None = None  # of the page load
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.console_errors.append(f"uncaught: {err}"))
        page.on("dialog", self._dialog)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    @property
    def harness(self) -> ClusterHarness:
        assert self._harness is not None, "this dashboard runs without the demo stack"
        return self._harness

    @property
    def api(self) -> httpx.AsyncClient:
        return self.harness.client

    def model(self, key: str) -> Locator:
        return self.page.locator(f'[data-test=model][data-key="{key}"]')

    async def confirm(self) -> None:
        """Press the confirm button of the open confirmation dialog."""
        await self.page.locator("#confirm-dialog [data-test=confirm-ok]").click()

    async def wait_live(self) -> None:
        await expect(self.page.locator("#connection")).to_have_class("connection connection-live")

    def assert_clean(self, *, answered: tuple[int, ...] = ()) -> None:
        """No console error, uncaught exception or dialog. ``answered``: HTTP statuses the test
        provoked on purpose (Chromium logs every 4xx response as a console error)."""
        expected = tuple(f"status of {code} " for code in answered)
        unexpected = [
            e
            for e in self.console_errors
            if not (e.startswith("Failed to load resource") and any(x in e for x in expected))
        ]
        assert unexpected == [], unexpected
        assert self.dialogs == [], self.dialogs


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[ClusterHarness]:
    """The demo stack: two simulated Sparks (qdrant disabled, to show it gets no tile) and
    Spark Control."""
    async with demo_sim(tmp_path) as sim, demo_app(sim, services={"disabled": ["qdrant"]}) as h:
        yield h


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def dashboard(browser: Browser, demo: ClusterHarness) -> AsyncIterator[Dashboard]:
    """The dashboard open in a desktop-sized page, its first data rendered."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    url = str(demo.client.base_url).rstrip("/")
    board = Dashboard(page, demo, url)
    board.response = await page.goto(url + "/")
    await expect(page.locator("[data-test=model]").first).to_be_visible()
    try:
        yield board
    finally:
        await context.close()
