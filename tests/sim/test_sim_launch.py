"""launch-cluster.sh on the simulated head: start, serve, refuse, stop, bind mounts."""

from __future__ import annotations

import asyncio
import json

import httpx

from scripts.sparksim import containers
from scripts.sparksim.layout import read_json
from tests.sim.sim_helpers import (
    connect,
    container_log,
    health,
    launch_command,
    run,
    stop_command,
    wait_for,
    wait_healthy,
)

QWEN = "Qwen/Qwen3-32B"


async def test_launch_serves_the_model_once_loaded(sim):
    launched = await run(sim, launch_command(sim, QWEN, "qwen"))
    assert launched.exit_status == 0, launched.stderr
    assert sim.container_running("spark1") and sim.container_running("spark2")
    await wait_healthy(sim)
    async with httpx.AsyncClient() as client:
        models = (await client.get(f"{sim.vllm_url}/v1/models")).json()
    assert [m["id"] for m in models["data"]] == ["qwen"]
    assert sim.running_model() == "qwen"
    # Healthy after this launch made the container and started the engine in it, by the
    # timestamps the node itself recorded.
    created = containers.load(sim.head.paths, "vllm_node")["created"]
    engine_started = read_json(sim.head.paths.vllm_state)["started_at"]
    assert created <= engine_started <= sim.vllm_healthy_at()
    log = container_log(sim)
    order = ["Starting to load model", "Loading weights took", "Application startup complete."]
    positions = [log.index(marker) for marker in order]
    assert positions == sorted(positions)
    logs = await run(sim, "docker logs --tail 1 vllm_node")
    assert logs.stdout.strip().endswith("Application startup complete.")


async def test_connections_are_refused_while_loading(sim):
    sim.set_load_time(60)
    assert (await run(sim, launch_command(sim, QWEN, "qwen"))).exit_status == 0
    await wait_for(lambda: "non-default args" in container_log(sim), "the fake vLLM to start")
    assert await health(sim) is None  # like real vLLM: nothing listens until startup completes
    top = await run(sim, "docker top vllm_node")
    assert "sleep infinity" in top.stdout and "vllm serve Qwen/Qwen3-32B" in top.stdout
    assert sim.running_model() is None and sim.vllm_healthy_at() is None
    assert (await run(sim, stop_command(sim))).exit_status == 0


async def test_launch_is_refused_while_the_container_runs(sim):
    assert (await run(sim, launch_command(sim, QWEN, "qwen"))).exit_status == 0
    await wait_healthy(sim)
    again = await run(sim, launch_command(sim, "google/gemma-3-27b-it", "gemma"))
    assert again.exit_status == 1
    assert "container vllm_node is already running" in again.stderr
    assert "stop it first" in again.stderr
    assert sim.running_model() == "qwen"


async def test_stop_removes_the_containers_and_the_engine(sim):
    assert (await run(sim, launch_command(sim, QWEN, "qwen"))).exit_status == 0
    await wait_healthy(sim)
    stopped = await run(sim, stop_command(sim))
    assert stopped.exit_status == 0, stopped.stderr
    assert not sim.container_running("spark1") and not sim.container_running("spark2")
    assert sim.running_model() is None
    assert await health(sim) is None
    ps = await run(sim, "docker ps -a -q")
    assert ps.stdout == ""
    # A new launch works once stopped (the controller's stop-then-launch swap).
    assert (await run(sim, launch_command(sim, "google/gemma-3-27b-it", "gemma"))).exit_status == 0
    await wait_for(lambda: sim.running_model() == "gemma", "gemma to serve")


async def test_status_reports_every_node(sim):
    before = await run(sim, "~/spark-vllm-docker/launch-cluster.sh status")
    assert before.stdout.count("not running") == 2
    assert (await run(sim, "~/spark-vllm-docker/launch-cluster.sh -d start")).exit_status == 0
    after = await run(sim, "~/spark-vllm-docker/launch-cluster.sh status")
    lines = after.stdout.splitlines()
    assert len(lines) == 2 and all("vllm_node running" in line for line in lines)
    assert [line.split()[0] for line in lines] == [n.host for n in sim.nodes]


async def test_local_model_is_only_visible_when_bind_mounted(sim):
    model = str(sim.paths.models / "demo-finetune")
    assert (await run(sim, launch_command(sim, model, "demo"))).exit_status == 0
    await wait_for(lambda: "HFValidationError" in container_log(sim), "the load error")
    await wait_for(lambda: not _engine_alive(sim), "the engine to exit")
    assert sim.container_running("spark1")  # a failed engine leaves the container up
    assert await health(sim) is None
    assert (await run(sim, stop_command(sim))).exit_status == 0

    mounted = await run(
        sim,
        launch_command(sim, model, "demo"),
        env={"VLLM_SPARK_EXTRA_DOCKER_ARGS": f"-v {model}:{model}"},
    )
    assert mounted.exit_status == 0, mounted.stderr
    await wait_healthy(sim)
    assert sim.running_model() == "demo"
    for node in ("spark1", "spark2"):
        inspect = await run(sim, "docker inspect vllm_node", node=node)
        mounts = json.loads(inspect.stdout)[0]["Mounts"]
        assert [(m["Source"], m["Destination"]) for m in mounts] == [(model, model)]


async def test_without_d_the_launch_follows_logs_and_dies_with_the_session(sim):
    async with connect(sim) as conn:
        process = await conn.create_process(launch_command(sim, QWEN, "qwen", daemon=False))

        async def startup_complete() -> None:
            while "Application startup complete." not in await process.stdout.readline():
                pass

        await asyncio.wait_for(startup_complete(), 15)
        assert sim.running_model() == "qwen"
        process.close()
    await wait_for(
        lambda: not any(sim.container_running(n.name) for n in sim.nodes),
        "the cluster to stop on every node",
    )
    assert sim.running_model() is None


async def test_unknown_host_and_bad_usage_fail(sim):
    unknown = await run(sim, "~/spark-vllm-docker/launch-cluster.sh -n 10.9.9.9 -d start")
    assert unknown.exit_status == 1 and "10.9.9.9" in unknown.stderr
    no_verb = await run(sim, "~/spark-vllm-docker/launch-cluster.sh -d")
    assert no_verb.exit_status == 1 and "Usage" in no_verb.stderr
    assert not sim.container_running("spark1")


def _engine_alive(sim) -> bool:
    from scripts.sparksim import procs
    from scripts.sparksim.layout import read_json

    state = read_json(sim.head.paths.vllm_state) or {}
    return bool(state.get("pid")) and procs.alive(state["pid"])
