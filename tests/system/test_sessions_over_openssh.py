"""What a session on a simulated Spark looks like under sshd, and what stopping leaves behind."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from scripts.sparksim.layout import ENV_ROOT
from tests.cluster import ClusterHarness, running_app
from tests.system.openssh_sim import start_openssh_sim

MODEL = "gemma-3-27b"


async def test_sessions_run_as_the_node_user_with_the_node_environment(
    cluster: ClusterHarness,
) -> None:
    sim, ssh = cluster.sim, cluster.runtime.ssh
    probe = 'id -un; pwd; printf "%s\\n" "$PATH" "$SIM_NODE" "${HF_TOKEN-}" "${OTHER-unset}"'
    for node in sim.nodes:
        r = await ssh.run(node.name, probe, timeout=10, env={"HF_TOKEN": "hf_x", "OTHER": "x"})
        assert r.ok, r
        # sshd accepts HF_TOKEN from the client (AcceptEnv) and nothing else.
        assert r.stdout.splitlines() == [
            node.user, str(node.home), f"{node.paths.bin}:/usr/bin:/bin", node.name, "hf_x",
            "unset",
        ]  # fmt: skip
    multi_line = "cat\necho 'to stderr' >&2; exit 7"
    r = await ssh.run("spark2", multi_line, timeout=10, stdin="from stdin\n")
    assert (r.exit_status, r.stdout, r.stderr) == (7, "from stdin\n", "to stderr\n")
    # Recorded exactly as sent (the app's background probes and disk scans interleave theirs).
    ours = [c for c in sim.node("spark2").commands if c in (probe, multi_line)]
    assert ours[-2:] == [probe, multi_line]


def leftovers(root: Path, group: str, namespaces: list[str]) -> list[str]:
    """What a stopped OpenSSH simulator could have left on this machine."""
    found = []
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [ns for ns in namespaces if ns in listed]
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    found += [ns.split("-")[0] for ns in namespaces if ns.split("-")[0] + " " in links]
    try:
        gid = grp.getgrnam(group).gr_gid
        found += [group] + [u.pw_name for u in pwd.getpwall() if u.pw_gid == gid]
    except KeyError:
        pass
    marker = f"{ENV_ROOT}={root}".encode()
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and marker in Path(entry.path, "environ").read_bytes():
                found.append(f"process {entry.name}")
        except OSError:
            continue
    return found


async def test_stop_leaves_no_namespace_user_or_process_behind(sim_root: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: the fallback creates no namespaces or users to clean up")
    sim = await start_openssh_sim(sim_root)
    try:
        assert sim.openssh is not None and sim.openssh.subnet is not None
        namespaces = [sim.openssh.subnet.namespace(n.host) for n in sim.nodes]
        group = sim.openssh.group
        assert group is not None
        assert leftovers(sim.root, group, namespaces)  # all there while it runs
        async with running_app(sim) as cluster:
            assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
    finally:
        await sim.stop()
    assert leftovers(sim.root, group, namespaces) == []


async def test_loopback_fallback_swaps_to_ready(sim_root: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: every test of this tier already runs on the loopback fallback")
    sim = await start_openssh_sim(sim_root, ssh="openssh-loopback")
    try:
        assert sim.openssh is not None and sim.openssh.mode == "loopback"
        assert [n.host for n in sim.nodes] == ["127.0.0.1", "127.0.0.2"]
        async with running_app(sim) as cluster:
            assert (await cluster.swap_and_wait(MODEL))["state"] == "ready"
            assert sim.running_model() == MODEL
            r = await cluster.runtime.ssh.run("spark2", "id -un", timeout=10)
            assert r.stdout.strip() == sim.node("spark2").user
        assert any("exec vllm serve" in c for c in sim.head.commands)
    finally:
        await sim.stop()
