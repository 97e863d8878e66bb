"""Host keys pinned on first use against real sshd, and a changed key refused."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from app.cluster.ssh import HostKeyChanged
from scripts.sparksim import SparkSim
from tests.cluster import ClusterHarness

MODEL = "gemma-3-27b"


async def openssh_client(sim: SparkSim, name: str) -> tuple[int, str]:
    """Run ``true`` on node ``name`` with OpenSSH's own client, trusting only the app's
    known_hosts file; returns (exit status, stderr)."""
    ssh = shutil.which("ssh")
    if ssh is None:
        pytest.skip("OpenSSH's ssh client is not installed")
    node = sim.node(name)
    proc = await asyncio.create_subprocess_exec(
        ssh, "-F", "/dev/null", "-i", str(sim.paths.client_key), "-p", str(node.ssh_port),
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={sim.paths.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=10", f"{node.user}@{node.host}", "true",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    return proc.returncode or 0, stderr.decode()


async def test_pinned_keys_work_and_a_changed_key_is_refused_naming_the_node(
    cluster: ClusterHarness,
) -> None:
    sim = cluster.sim
    assert sim.openssh is not None
    assert not sim.paths.known_hosts.exists()
    report = (await cluster.client.post(f"/api/swap/{MODEL}/validate")).json()
    assert report["ok"] is True, report
    pinned = sim.paths.known_hosts.read_text()
    assert len(pinned.splitlines()) == 2
    # What the app pinned is a known_hosts file OpenSSH's own client accepts.
    status, stderr = await openssh_client(sim, "spark2")
    assert status == 0, stderr

    await sim.openssh.rekey("spark2")  # a reinstalled Spark: same address, new host key

    report = (await cluster.client.post(f"/api/swap/{MODEL}/validate")).json()
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["ssh spark1"]["ok"] is True
    assert checks["ssh spark2"]["ok"] is False
    detail = checks["ssh spark2"]["detail"]
    assert detail.startswith(f"spark2 ({sim.node('spark2').host}:{sim.node('spark2').ssh_port})")
    assert "different SSH host key than the one pinned" in detail
    with pytest.raises(HostKeyChanged) as refused:
        await cluster.runtime.ssh.run("spark2", "true", timeout=10)
    assert refused.value.node == "spark2"
    # The pin is kept (the owner must act), and OpenSSH's client refuses the node too.
    assert sim.paths.known_hosts.read_text() == pinned
    status, stderr = await openssh_client(sim, "spark2")
    assert status != 0 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr

    # A swap refuses to start on a node it cannot trust.
    done = await cluster.swap_and_wait(MODEL)
    assert done["state"] == "failed" and "spark2" in done["error"]
    assert sim.running_model() is None
