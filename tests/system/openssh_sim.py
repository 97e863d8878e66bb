"""Starting the Spark simulator under OpenSSH for the system tier."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scripts.sparksim import SparkSim


async def start_openssh_sim(root: Path, ssh: str = "openssh") -> SparkSim:
    """A started two-node simulator under OpenSSH at ``root``; the caller stops it. When
    starting fails, what it already made (namespaces, users, sshd) is removed first."""
    sim = SparkSim(root, load_time=0.3, token_rate=500.0, ssh=ssh)
    try:
        await sim.start()
    except BaseException:
        await sim.stop()
        raise
    return sim


@contextlib.contextmanager
def reachable_root() -> Iterator[Path]:
    """A not-yet-existing simulator root that the nodes' users can reach, removed on exit.
    (pytest's tmp_path sits in a directory private to its owner, which they cannot enter.)"""
    base = Path(tempfile.mkdtemp(prefix="sparksim-openssh-"))
    try:
        base.chmod(0o711)
        yield base / "sim"
    finally:
        shutil.rmtree(base, ignore_errors=True)
