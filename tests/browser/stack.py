"""The demo stack for browser tests: the Spark simulator (real SSH) with the demo catalog, Spark
Control served on 127.0.0.1, and Debian's headless Chromium driven by Playwright.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``apt-get install
chromium``). The models load in a realistic ~1.5 s so the swap's phases can be watched.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Playwright

from app.services.monitor import ProbeSettings
from scripts.demo import write_demo_catalog
from scripts.sparksim import SparkSim
from tests.cluster import FAST, ClusterHarness, running_app, sim_config, simulator
from tests.servers import serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOAD_TIME_S = 1.5
# Probe rounds every second: GPU figures, the history plot and service tiles move visibly.
PROBES = ProbeSettings(interval_s=1.0, timeout_s=3.0)


async def launch_chromium(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@contextlib.asynccontextmanager
async def demo_sim(root: Path, *, load_time: float = LOAD_TIME_S) -> AsyncIterator[SparkSim]:
    """Two simulated Sparks with the demo catalog (the bundled models plus a local model)."""
    sim_root = root / "sim"
    root.mkdir(parents=True, exist_ok=True)
    catalog = write_demo_catalog(root, sim_root)
    async with simulator(sim_root, catalog=catalog, load_time=load_time, token_rate=40.0) as sim:
        yield sim


@contextlib.asynccontextmanager
async def demo_app(sim: SparkSim, **config_sections: Any) -> AsyncIterator[ClusterHarness]:
    """Spark Control against ``sim`` (port 0), with realistic probes."""
    async with running_app(sim, config=sim_config(sim, **config_sections), probes=PROBES) as h:
        yield h


def serve_on_port(asgi_app: Any, port: int) -> contextlib.AbstractAsyncContextManager[str]:
    """Serve ``asgi_app`` on a fixed loopback port (to restart a server where a page expects
    it); yields its base URL."""
    return serve(asgi_app, port=port)


__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "FAST",
    "PROBES",
    "demo_app",
    "demo_sim",
    "launch_chromium",
    "serve_on_port",
]
