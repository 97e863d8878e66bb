"""Each simulated Spark is a real SSH server that runs command strings in /bin/sh."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import asyncssh
import pytest

from scripts.sparksim import procs
from tests.sim.sim_helpers import connect, run, wait_for


async def test_relays_stdout_stderr_and_exit_status(sim):
    result = await run(sim, "echo out; echo err >&2; exit 3")
    assert (result.stdout, result.stderr, result.exit_status) == ("out\n", "err\n", 3)


async def test_command_string_arrives_literally_and_is_recorded(sim):
    command = "printf '%s\\n' 'a; b' \"$((1+2))\""
    result = await run(sim, command, node="spark2")
    assert result.stdout == "a; b\n3\n"
    node = sim.node("spark2")
    assert node.commands == [command]
    logged = node.paths.commands_log.read_text().splitlines()
    assert [json.loads(line) for line in logged] == [command]
    assert sim.node("spark1").commands == []


async def test_environment_is_the_nodes_plus_what_the_client_sends(sim):
    result = await run(
        sim,
        'printf "%s|%s|%s|%s|%s" "$HOME" "$SIM_NODE" "$HF_TOKEN" "$PATH" "$(pwd)"',
        node="spark2",
        env={"HF_TOKEN": "hf_secret", "PATH": "/nowhere"},
    )
    home, node, token, path, cwd = result.stdout.split("|")
    assert home == cwd == str(sim.node("spark2").home)
    assert (node, token) == ("spark2", "hf_secret")
    # The node's PATH wins: the fakes must stay reachable whatever the client sends.
    assert path.split(":")[0] == str(sim.node("spark2").paths.bin)


async def test_stdin_is_forwarded(sim):
    result = await run(sim, "tr a-z A-Z", input="hello spark\n")
    assert result.stdout == "HELLO SPARK\n"


async def test_only_the_nvidia_user_with_the_client_key_gets_in(sim):
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(sim, username="root"):
            pass
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(sim, client_keys=[stranger]):
            pass


async def test_nodes_have_distinct_addresses_and_host_keys(sim):
    keys = []
    for node in sim.nodes:
        async with connect(sim, node.name) as conn:
            keys.append(conn.get_server_host_key().get_fingerprint())
            assert (await conn.run("echo $SIM_NODE")).stdout.strip() == node.name
    assert len({n.host for n in sim.nodes}) == len(sim.nodes)
    assert len(set(keys)) == len(sim.nodes)


async def test_a_signal_death_is_reported_as_a_signal(sim):
    result = await run(sim, "kill -TERM $$")
    assert result.exit_signal is not None and result.exit_signal[0] == "TERM"


@pytest.mark.parametrize("close", ["channel", "connection"])
async def test_client_going_away_kills_docker_logs_follow(sim, close):
    started = await run(sim, "cd ~/spark-vllm-docker && ./launch-cluster.sh -d start")
    assert started.exit_status == 0, started.stderr
    async with connect(sim) as conn:
        # `exec` keeps the shell's pid, which is also the process group the server kills.
        process = await conn.create_process("echo $$; exec docker logs -f vllm_node")
        pid = int(await asyncio.wait_for(process.stdout.readline(), 10))
        # docker logs -f is running (it follows until the container stops).
        await wait_for(lambda: "docker" in _cmdline(pid), "docker logs -f to start")
        if close == "channel":
            process.close()
        else:
            conn.abort()
        await wait_for(lambda: not procs.alive(pid), "docker logs -f to be killed")
    assert sim.container_running("spark1")  # only the follower died


async def test_a_normal_exit_leaves_background_children_alone(sim):
    result = await run(sim, "sleep 30 >/dev/null 2>&1 & echo $!")
    pid = int(result.stdout)
    try:
        assert procs.alive(pid)
    finally:
        os.kill(pid, signal.SIGKILL)
        procs.wait_gone([pid], 5)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""
