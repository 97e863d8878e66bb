"""The simulator's Python API, its config, and the node fakes a controller queries."""

from __future__ import annotations

import asyncio
import json

import asyncssh
import pytest

from app.config import load_config, parse_config
from scripts.sparksim import SparkSim, procs
from scripts.sparksim.hfcache import catalog_repos, repo_dir_name
from tests.sim.sim_helpers import connect, run


async def test_config_is_valid_and_points_at_the_simulator(sim):
    config = parse_config(sim.config_dict(), env={})
    assert config.warnings == ()
    assert [(s.name, s.host, s.ssh_port, s.ssh_user) for s in config.sparks] == [
        (n.name, n.host, n.ssh_port, "nvidia") for n in sim.nodes
    ]
    assert config.vllm.port == sim.vllm_port
    assert (sim.paths.root / "client" / "id_ed25519").read_text().startswith("-----BEGIN OPENSSH")
    assert config.ssh.key_file == str(sim.paths.client_key)
    assert config.ssh.known_hosts == str(sim.paths.known_hosts)
    assert not sim.paths.known_hosts.exists()
    assert config.models.local_roots == (str(sim.paths.models),)
    assert (sim.paths.models / "demo-finetune" / "config.json").is_file()


async def test_write_config_merges_section_overrides(sim, tmp_path):
    path = sim.write_config(
        tmp_path / "cfg" / "config.yaml",
        vllm={"load_timeout_s": 30},
        webhook={"url": "http://127.0.0.1:9/hook"},
    )
    config = load_config(path, env={})
    assert config.vllm.load_timeout_s == 30 and config.vllm.port == sim.vllm_port
    assert config.webhook.url == "http://127.0.0.1:9/hook"
    assert len(config.sparks) == 2


async def test_every_catalog_repo_is_cached_on_every_node(sim):
    sizes = set()
    for repo in catalog_repos():
        for node in sim.nodes:
            snapshots = list((node.paths.hf_hub / repo_dir_name(repo) / "snapshots").iterdir())
            assert len(snapshots) == 1 and (snapshots[0] / "config.json").is_file()
            weights = (snapshots[0] / "model.safetensors").stat().st_size
            assert weights > 0
        sizes.add(weights)
    assert len(sizes) == len(catalog_repos())  # sizes differ by model
    listing = await run(sim, "ls ~/.cache/huggingface/hub", node="spark2")
    assert set(listing.stdout.split()) == {repo_dir_name(r) for r in catalog_repos()}


async def test_a_custom_catalog_fills_the_caches(tmp_path):
    catalog = tmp_path / "models.yaml"
    catalog.write_text(
        "models:\n  - key: tiny\n    repo: acme/tiny-1b\n  - key: local\n    local_path: /x\n"
    )
    async with SparkSim(tmp_path / "sim", nodes=1, catalog=catalog) as sim:
        hub = sim.head.paths.hf_hub
        assert [p.name for p in hub.iterdir()] == ["models--acme--tiny-1b"]
        assert sim.config_dict()["models"]["catalog_file"] == str(catalog)


async def test_docker_ps_formats_and_filters(sim):
    assert (await run(sim, "docker ps --format '{{.Names}}'")).stdout == ""
    assert (
        await run(sim, "~/spark-vllm-docker/launch-cluster.sh -d --name my_vllm start")
    ).exit_status == 0
    names_status = await run(sim, "docker ps --format '{{.Names}} {{.Status}}'")
    assert names_status.stdout.startswith("my_vllm Up ")
    image = await run(
        sim, "docker ps -a --filter name=^my_vllm$ --format '{{.Image}}\\t{{.Names}}'"
    )
    assert image.stdout == "vllm-node\tmy_vllm\n"
    assert (await run(sim, "docker ps -q --filter name=vllm_node")).stdout == ""
    ids = await run(sim, "docker ps -aq --filter name=my_vllm")
    inspect = json.loads((await run(sim, "docker inspect my_vllm")).stdout)
    assert (
        inspect[0]["Id"].startswith(ids.stdout.strip()) and inspect[0]["State"]["Running"] is True
    )
    table = await run(sim, "docker ps --format 'table {{.Names}}\\t{{.Status}}'", node="spark2")
    assert table.stdout.splitlines()[0].split() == ["NAMES", "STATUS"]
    assert (await run(sim, "docker inspect -f '{{.State.Running}}' my_vllm")).stdout == "true\n"
    stopped = await run(sim, "docker stop my_vllm && docker ps -a -q")
    assert stopped.stdout == "my_vllm\n"
    missing = await run(sim, "docker logs nothing_here")
    assert missing.exit_status == 1 and "No such container: nothing_here" in missing.stderr


async def test_docker_exec_runs_in_the_container(sim):
    assert (
        await run(sim, "~/spark-vllm-docker/launch-cluster.sh -d -e FOO=bar start")
    ).exit_status == 0
    result = await run(sim, "docker exec vllm_node sh -c 'echo $FOO'")
    assert (result.stdout, result.exit_status) == ("bar\n", 0)
    assert (await run(sim, "docker exec vllm_node no-such-binary")).exit_status == 127


async def test_nvidia_smi_answers_the_fields_in_the_order_asked(sim):
    result = await run(
        sim,
        "nvidia-smi --query-gpu=power.draw,name,memory.total,temperature.gpu,"
        "utilization.gpu,memory.used --format=csv,noheader,nounits",
    )
    power, name, total, temp, util, used = [v.strip() for v in result.stdout.strip().split(",")]
    assert name == "NVIDIA GB10" and total == "122880"
    assert 5 < float(power) < 20 and 30 <= int(temp) <= 45 and 0 <= int(util) <= 10
    assert 1000 < int(used) < 2000
    listed = await run(sim, "nvidia-smi -L")
    assert listed.stdout.startswith("GPU 0: NVIDIA GB10 (UUID: GPU-")
    bad = await run(sim, "nvidia-smi --query-gpu=name,bogus --format=csv")
    assert bad.exit_status != 0 and "bogus" in bad.stdout


async def test_two_simulators_run_side_by_side(tmp_path):
    async with SparkSim(tmp_path / "a", nodes=2) as one, SparkSim(tmp_path / "b", nodes=2) as two:
        assert one.vllm_port != two.vllm_port
        assert {n.ssh_port for n in one.nodes}.isdisjoint({n.ssh_port for n in two.nodes})
        assert (await run(one, "echo $SIM_ROOT")).stdout.strip() == str(one.root)
        assert (await run(two, "echo $SIM_ROOT")).stdout.strip() == str(two.root)


async def test_stop_is_idempotent_and_closes_the_servers(tmp_path):
    sim = SparkSim(tmp_path / "sim", nodes=2)
    async with sim:
        async with connect(sim) as conn:
            assert (await conn.run("true")).exit_status == 0
    await sim.stop()
    with pytest.raises((OSError, asyncssh.Error)):
        async with connect(sim):
            pass


async def test_a_reused_root_starts_clean_with_the_same_host_keys(tmp_path):
    async with SparkSim(tmp_path / "sim", nodes=2) as first:
        started = await run(first, "~/spark-vllm-docker/launch-cluster.sh -d start")
        assert started.exit_status == 0
        first.inject("spark2", "model_missing", repo="Qwen/Qwen3-32B")
        async with connect(first) as conn:
            key = conn.get_server_host_key().get_fingerprint()
    async with SparkSim(tmp_path / "sim", nodes=2) as second:
        assert not second.container_running("spark1") and not second.container_running("spark2")
        assert second.active_faults("spark2") == {}
        assert (
            await run(
                second, "test -d ~/.cache/huggingface/hub/models--Qwen--Qwen3-32B", node="spark2"
            )
        ).exit_status == 0
        async with connect(second) as conn:
            assert conn.get_server_host_key().get_fingerprint() == key
        assert [c for n in second.nodes for c in n.commands] == [
            "test -d ~/.cache/huggingface/hub/models--Qwen--Qwen3-32B"
        ]


async def test_stop_also_ends_processes_that_escaped_their_session(tmp_path):
    sim = SparkSim(tmp_path / "sim", nodes=1)
    await sim.start()
    try:
        async with connect(sim) as conn:
            # setsid leaves the command's process group but keeps its stdout pipe open.
            process = await conn.create_process("setsid sleep 60 & echo $!")
            pid = int(await asyncio.wait_for(process.stdout.readline(), 10))
            assert procs.alive(pid)
            await asyncio.wait_for(sim.stop(), 15)
    finally:
        await sim.stop()
    assert not procs.alive(pid)
