"""The real-OpenSSH tier: the simulator's Sparks served by Debian's ``sshd``, driven by the app
through its real ``AsyncsshTransport`` (key file, host keys pinned on first use).

As root (CI) every node is a host of its own: a network namespace on a private bridge, with
its own ``sshd`` and login user (see ``scripts/sparksim/openssh.py``). Otherwise the simulator
falls back to non-root ``sshd`` instances on 127.0.0.x. Tests skip, saying why, only when
``sshd`` is not installed or, when not root, for what the fallback cannot do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from scripts.sparksim import SparkSim
from scripts.sparksim.openssh import unavailable_reason
from tests.cluster import ClusterHarness, running_app
from tests.system.openssh_sim import reachable_root, start_openssh_sim


@pytest.fixture
def sim_root() -> Iterator[Path]:
    """Where a simulator under OpenSSH may live (skips when sshd is missing)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with reachable_root() as root:
        yield root


@pytest.fixture
async def openssh_sim(sim_root: Path) -> AsyncIterator[SparkSim]:
    """Two simulated Sparks under OpenSSH (see the module docstring)."""
    sim = await start_openssh_sim(sim_root)
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def cluster(openssh_sim: SparkSim) -> AsyncIterator[ClusterHarness]:
    """Spark Control served against the OpenSSH-hosted simulator, with fast timings."""
    async with running_app(openssh_sim) as harness:
        yield harness
