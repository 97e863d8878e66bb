"""``python -m scripts.sparksim``: starts, writes the config, stops everything on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import asyncssh
import httpx
import yaml

from scripts.sparksim import procs
from tests.sim.sim_helpers import REPO_ROOT, wait_for


def _sim_processes(root: Path) -> list[int]:
    """Live processes started by the simulator at ``root`` (they carry SIM_ROOT=<root>)."""
    marker = f"SIM_ROOT={root}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                environ = Path(entry.path, "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in environ and procs.alive(int(entry.name)):
                found.append(int(entry.name))
    return found


async def _start_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.sparksim",
        *args,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_cli_serves_until_sigterm_then_leaves_nothing_behind(tmp_path):
    config_path = tmp_path / "config.yaml"
    cli = await _start_cli("--nodes", "2", "--config-out", str(config_path), "--load-time", "0.2")
    try:
        lines = [(await asyncio.wait_for(cli.stdout.readline(), 15)).decode() for _ in range(2)]
        assert [line.split()[0] for line in lines] == ["spark1", "spark2"]
        config = yaml.safe_load(config_path.read_text())
        root = Path(lines[0].split("home=")[1].strip()).parents[1]
        head = config["sparks"][0]
        port = config["vllm"]["port"]
        async with asyncssh.connect(
            head["host"],
            head["ssh_port"],
            username=head["ssh_user"],
            client_keys=[config["ssh"]["key_file"]],
            known_hosts=None,
        ) as conn:
            hosts = ",".join(s["host"] for s in config["sparks"])
            launched = await conn.run(
                f"cd ~/spark-vllm-docker && ./launch-cluster.sh -n {hosts} -d "
                f"exec vllm serve Qwen/Qwen3-32B --port {port}"
            )
            assert launched.exit_status == 0, launched.stderr
            # A follower that would run forever if nobody stopped it.
            await conn.create_process("docker logs -f vllm_node")

            async def healthy() -> bool:
                try:
                    async with httpx.AsyncClient() as client:
                        return (
                            await client.get(f"http://{head['host']}:{port}/health")
                        ).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(healthy, "the fake vLLM started through the CLI's simulator")
            running = _sim_processes(root)
            assert len(running) >= 2  # at least the fake vLLM and the follower
            cli.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(cli.wait(), 15) == 0
        assert _sim_processes(root) == []
        assert not root.exists()  # the temporary root is removed
    finally:
        if cli.returncode is None:
            cli.kill()
            await cli.wait()


async def test_cli_rejects_an_unreadable_catalog(tmp_path):
    cli = await _start_cli(
        "--config-out", str(tmp_path / "c.yaml"), "--catalog", str(tmp_path / "nope.yaml")
    )
    _, stderr = await asyncio.wait_for(cli.communicate(), 15)
    assert cli.returncode == 2 and b"catalog" in stderr
    assert not (tmp_path / "c.yaml").exists()
