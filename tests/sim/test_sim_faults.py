"""Every injectable fault does what a controller would observe on real hardware."""

from __future__ import annotations

import asyncio

import asyncssh
import httpx
import pytest

from scripts.sparksim import faults, procs
from scripts.sparksim.layout import read_json
from tests.sim.sim_helpers import (
    connect,
    container_log,
    health,
    launch_command,
    run,
    stop_command,
    wait_for,
)

QWEN = "Qwen/Qwen3-32B"
MEMORY = "nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits"


async def test_launch_fail_exits_with_the_code_and_starts_nothing(sim):
    sim.inject("spark2", "launch_fail", exit_code=7)
    result = await run(sim, launch_command(sim, QWEN, "qwen"))
    assert result.exit_status == 7
    assert "spark2" in result.stderr
    assert not sim.container_running("spark1") and not sim.container_running("spark2")
    sim.clear_faults()
    assert (await run(sim, launch_command(sim, QWEN, "qwen"))).exit_status == 0


async def test_image_missing(sim):
    sim.inject("spark2", "image_missing")
    missing = await run(sim, "docker image inspect vllm-node", node="spark2")
    assert missing.exit_status == 1 and "No such image: vllm-node" in missing.stderr
    present = await run(sim, "docker image inspect vllm-node", node="spark1")
    assert present.exit_status == 0 and present.stdout.lstrip().startswith("[")
    launched = await run(sim, launch_command(sim, QWEN, "qwen"))
    assert launched.exit_status == 1 and "spark2" in launched.stderr
    assert not sim.container_running("spark1")


async def test_never_healthy_never_listens_even_when_set_mid_load(sim):
    sim.set_load_time(2.0)
    assert (await run(sim, launch_command(sim, QWEN, "qwen"))).exit_status == 0
    # The engine is already loading when the fault arrives: it is read when loading ends.
    await wait_for(lambda: "Starting to load model" in container_log(sim), "loading to start")
    sim.inject("spark2", "never_healthy")
    await wait_for(lambda: "not responding" in container_log(sim), "the engine to hang")
    assert await health(sim) is None  # connection refused, as with a real vLLM still starting
    assert sim.engine_exit() is None
    assert sim.running_model() is None and sim.vllm_healthy_at() is None


async def test_crash_after_ready_kills_the_engine_but_not_the_container(sim):
    sim.inject("spark2", "crash_after_ready", seconds=0.3)
    assert (await run(sim, launch_command(sim, QWEN, "qwen"))).exit_status == 0
    # Not polled over HTTP: a loaded machine could miss the 0.3 s healthy window.
    await wait_for(lambda: "Application startup complete." in container_log(sim), "readiness")
    assert read_json(sim.head.paths.vllm_state)["healthy_at"] is not None
    await wait_for(lambda: _refused(sim), "the engine to crash")
    log = container_log(sim)
    assert "EngineCore encountered a fatal error" in log and "EngineDeadError" in log
    assert (await wait_for(sim.engine_exit, "the exit to be recorded"))["exit_code"] == 1
    assert sim.running_model() is None
    assert sim.container_running("spark1") and sim.container_running("spark2")
    ps = await run(sim, "docker ps --format '{{.Names}} {{.Status}}'")
    assert ps.stdout.startswith("vllm_node Up")


async def test_ssh_drop_cuts_the_connection_mid_command_then_is_used_up(sim):
    sim.inject("spark1", "ssh_drop", match="marker-cmd", after_s=0.2, times=1)
    async with connect(sim) as conn:
        process = await conn.create_process("echo $$; sleep 30 # marker-cmd")
        pid = int(await process.stdout.readline())
        # The command sleeps 30 s; only the drop (after 0.2 s) ends it within this bound.
        result = await process.wait(timeout=10)
        assert result.exit_status is None and result.exit_signal is None  # never reported
        with pytest.raises((asyncssh.Error, OSError)):
            await conn.run("echo on the same connection")
    await wait_for(lambda: not procs.alive(pid), "the dropped command to be killed")
    assert "ssh_drop" not in sim.active_faults("spark1")
    again = await run(sim, "echo fine # marker-cmd")
    assert (again.stdout, again.exit_status) == ("fine\n", 0)


async def test_ssh_drop_defaults_to_the_launch_script(sim):
    assert faults.validate("ssh_drop", {}) == {
        "match": "launch-cluster.sh",
        "after_s": 0.2,
        "times": 1,
    }
    sim.inject("spark1", "ssh_drop", times=2)
    async with connect(sim) as conn:
        unaffected = await conn.run("echo unaffected")
        dropped = await conn.run(
            "~/spark-vllm-docker/launch-cluster.sh status; sleep 30", timeout=10
        )
        with pytest.raises((asyncssh.Error, OSError)):
            await conn.run("echo on the dropped connection")
    assert unaffected.exit_status == 0
    assert dropped.exit_status is None and dropped.exit_signal is None
    assert sim.active_faults("spark1")["ssh_drop"]["times"] == 1


async def test_slow_stop_delays_the_stop(sim):
    assert (await run(sim, "~/spark-vllm-docker/launch-cluster.sh -d start")).exit_status == 0
    sim.inject("spark2", "slow_stop", seconds=1.0)
    stop = asyncio.create_task(run(sim, stop_command(sim)))
    # The script stops the nodes in order: spark1 at once, then spark2 only after its delay.
    await wait_for(lambda: not sim.container_running("spark1"), "spark1 to stop")
    assert sim.container_running("spark2") and not stop.done()
    assert (await stop).exit_status == 0
    assert not sim.container_running("spark2")


async def test_gpu_memory_is_freed_at_once_or_lazily_with_gpu_residual(sim):
    idle = await _memory(sim)
    assert idle < 5000
    assert (await run(sim, "~/spark-vllm-docker/launch-cluster.sh -d start")).exit_status == 0
    assert await _memory(sim) > 80000
    assert (await run(sim, stop_command(sim))).exit_status == 0
    assert await _memory(sim) < 5000  # no fault: freed at once

    sim.inject("spark1", "gpu_residual", seconds=60.0)
    assert (await run(sim, "~/spark-vllm-docker/launch-cluster.sh -d start")).exit_status == 0
    assert (await run(sim, stop_command(sim))).exit_status == 0
    assert await _memory(sim) > 80000  # still "in use" after the stop
    assert await _memory(sim, "spark2") < 5000  # the fault is per node
    # The window counts from the stop: shortening it lets the memory go.
    sim.inject("spark1", "gpu_residual", seconds=0.5)
    await wait_for(lambda: _memory_below(sim, 5000), "the residual memory to be released")


async def test_model_missing_hides_the_weights_until_cleared(sim):
    repo_dir = "~/.cache/huggingface/hub/models--Qwen--Qwen3-32B"
    sim.inject("spark2", "model_missing", repo=QWEN)
    assert (await run(sim, f"test -d {repo_dir}", node="spark2")).exit_status == 1
    assert (await run(sim, f"test -d {repo_dir}", node="spark1")).exit_status == 0
    assert (await run(sim, launch_command(sim, QWEN, "qwen"))).exit_status == 0
    await wait_for(lambda: "(no Qwen/Qwen3-32B on spark2)" in container_log(sim), "the load error")
    await wait_for(lambda: _refused(sim), "the engine to exit")
    sim.clear_faults("spark2")
    assert (
        await run(sim, f"test -f {repo_dir}/snapshots/*/config.json", node="spark2")
    ).exit_status == 0


def test_fault_parameters_are_validated(tmp_path):
    from scripts.sparksim import SparkSim

    sim = SparkSim(tmp_path, nodes=1)
    with pytest.raises(ValueError, match="unknown fault"):
        sim.inject("spark1", "meteor_strike")
    with pytest.raises(ValueError, match="repo"):
        sim.inject("spark1", "model_missing")
    with pytest.raises(ValueError, match="seconds"):
        sim.inject("spark1", "slow_stop", seconds="long")
    with pytest.raises(ValueError, match="no parameter"):
        sim.inject("spark1", "never_healthy", seconds=1)
    with pytest.raises(KeyError):
        sim.inject("spark9", "never_healthy")
    sim.inject("spark1", "crash_after_ready", seconds=2)
    assert sim.active_faults("spark1") == {"crash_after_ready": {"seconds": 2.0}}
    sim.clear_faults()
    assert sim.active_faults("spark1") == {}


async def _memory(sim, node: str = "spark1") -> int:
    result = await run(sim, MEMORY, node=node)
    assert result.exit_status == 0, result.stderr
    return int(result.stdout)


async def _memory_below(sim, limit: int) -> bool:
    return await _memory(sim) < limit


async def _refused(sim) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            await client.get(f"{sim.vllm_url}/health")
    except httpx.ConnectError:
        return True
    except httpx.TransportError:
        return False  # e.g. reset by an engine dying mid-request: not refused yet
    return False
