"""Shared fixtures: a real Spark Control served on 127.0.0.1 port 0, and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import app.config
from app.clock import ManualClock
from app.config import Config, parse_config
from app.runtime import Runtime
from app.tls import client_context
from app.web import create_app
from tests.servers import AppClient, SparkApp, serve


@pytest.fixture(autouse=True)
def history_database(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test's default history database is a file of its own (the appliance's default,
    /data/spark-control.db, would be shared by every test and every run on this machine)."""
    path = tmp_path_factory.mktemp("data") / "spark-control.db"
    monkeypatch.setattr(app.config, "DEFAULT_DATABASE", str(path))
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def spark_app() -> SparkApp:
    """``async with spark_app(config=..., **collaborators) as client:`` serves a fresh app
    (the collaborators are ``Runtime``'s keyword arguments)."""

    @asynccontextmanager
    async def start(
        config: Config | dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncIterator[AppClient]:
        if not isinstance(config, Config):
            config = parse_config(config or {}, {})
        app = create_app(Runtime(config, **kwargs))
        async with (
            serve(app) as base_url,
            AppClient(base_url=base_url, timeout=10, verify=client_context()) as client,
        ):
            client.app = app
            yield client

    return start


@pytest.fixture
async def client(spark_app: SparkApp, clock: ManualClock) -> AsyncIterator[AppClient]:
    """A served app with no Sparks configured and the test's manual clock."""
    async with spark_app(clock=clock) as c:
        yield c


@pytest.fixture
async def sim(tmp_path: Any) -> AsyncIterator[Any]:
    """A two-node Spark simulator (real SSH servers on 127.0.0.x)."""
    from tests.cluster import simulator

    async with simulator(tmp_path / "sim") as s:
        yield s


@pytest.fixture
async def cluster(sim: Any) -> AsyncIterator[Any]:
    """Spark Control served against ``sim``, with a recording webhook and fast timings."""
    from tests.cluster import running_app

    async with running_app(sim) as harness:
        yield harness
