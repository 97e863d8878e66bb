"""Swaps and validation over Debian's sshd, through the app's real SSH transport."""

from __future__ import annotations

import json
import os
import pwd

import httpx

from app.cluster.keys import host_pattern
from tests.cluster import ClusterHarness

MODEL = "gemma-3-27b"
OTHER = "qwen3-32b"


async def test_full_swap_to_ready_then_to_a_second_model(cluster: ClusterHarness) -> None:
    sim = cluster.sim
    done = await cluster.swap_and_wait(MODEL)
    assert done["state"] == "ready", done
    assert sim.running_model() == MODEL and sim.vllm_healthy_at() is not None
    assert sim.container_running("spark1") and sim.container_running("spark2")
    models = (await cluster.client.get("/api/models")).json()["models"]
    assert [m["key"] for m in models if m["running"]] == [MODEL]

    # The engine the launch script started over SSH answers where the app looks for it.
    async with httpx.AsyncClient(base_url=sim.vllm_url, timeout=5, trust_env=False) as vllm:
        served = (await vllm.get("/v1/models")).json()
    assert [m["id"] for m in served["data"]] == [MODEL]
    # It runs as the head's login user.
    engine = json.loads(sim.head.paths.vllm_state.read_text())
    assert pwd.getpwuid(os.stat(f"/proc/{engine['pid']}").st_uid).pw_name == sim.head.user

    # The login shell recorded what sshd ran, in order, on the node that ran it.
    head = list(sim.head.commands)
    [launch] = [i for i, c in enumerate(head) if "exec vllm serve" in c]
    [stop] = [i for i, c in enumerate(head) if "launch-cluster.sh" in c and c.endswith(" stop")]
    assert stop < launch and " -d exec " in head[launch]
    assert not any("exec vllm serve" in c for c in sim.node("spark2").commands)

    # Both host keys were pinned on first use, as OpenSSH names them.
    pinned = sim.paths.known_hosts.read_text().splitlines()
    for node in sim.nodes:
        key = node.paths.host_key.with_name(node.paths.host_key.name + ".pub").read_text()
        assert f"{host_pattern(node.host, node.ssh_port)} {' '.join(key.split()[:2])}" in pinned

    done = await cluster.swap_and_wait(OTHER)
    assert done["state"] == "ready", done
    assert sim.running_model() == OTHER
    assert sum("launch-cluster.sh" in c and c.endswith(" stop") for c in sim.head.commands) == 2


async def test_validate_all_ok_then_a_model_missing_on_the_worker(
    cluster: ClusterHarness,
) -> None:
    report = (await cluster.client.post(f"/api/swap/{MODEL}/validate")).json()
    assert report["ok"] is True, report
    checks = {c["name"]: c for c in report["checks"]}
    for name in ("ssh spark1", "ssh spark2", "launch script", "image spark1", "image spark2",
                 "weights spark1", "weights spark2", "disk spark1"):  # fmt: skip
        assert checks[name]["ok"] is True, checks[name]

    cluster.sim.inject("spark2", "model_missing", repo="google/gemma-3-27b-it")
    report = (await cluster.client.post(f"/api/swap/{MODEL}/validate")).json()
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["weights spark2"]["ok"] is False
    assert "missing on spark2" in checks["weights spark2"]["detail"]
    assert checks["weights spark1"]["ok"] is True
