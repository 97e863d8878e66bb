"""Fixtures for the Spark simulator tests: a fresh two-node simulator per test."""

from __future__ import annotations

import pytest

from scripts.sparksim import SparkSim


@pytest.fixture
async def sim(tmp_path):
    """Two simulated Sparks with a fast fake vLLM (0.3 s load, 1000 tokens/s). Overrides the
    suite-wide ``sim`` fixture so these tests pin their own settings."""
    simulator = SparkSim(tmp_path / "sim", nodes=2, load_time=0.3, token_rate=1000.0)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()
