"""The simulator's vLLM writes what real vLLM 0.32 writes: compared with the captured real logs
(tests/fixtures/vllm-0.32.0-cpu) line shape by line shape, milestone by milestone, refusal by
refusal."""

from __future__ import annotations

import re

import pytest

from app.swap import log_signals as signals
from app.swap.progress import progress_for
from scripts.sparksim.vllm_log import PACE, READY_AT_S
from tests.sim.sim_helpers import run, wait_for, wait_healthy
from tests.vllm_captures import lines, timed_lines

QWEN = "Qwen/Qwen3-32B"
VLLM_LINE = re.compile(
    r"^\((?:APIServer|EngineCore|Worker|VllmWorker-\d+) pid=\d+\) (?:INFO|WARNING|ERROR) "
    r"\d\d-\d\d \d\d:\d\d:\d\d \[[\w.]+:\d+\]( |$)"
)


def shape(line: str) -> str:
    """What kind of line this is, as a log reader tells them apart."""
    if VLLM_LINE.match(line):
        return "vllm"
    if line.startswith("\r"):
        return "tqdm"
    if line.startswith("INFO:     "):
        return "uvicorn"
    if line.startswith(("Traceback", "  File ", "    ")) or re.match(
        r"^[\w.]+(Error|Exception): ", line
    ):
        return "traceback"
    if line.startswith("usage: ") or line.startswith("vllm: error: "):
        return "argparse"
    return "other: " + line[:60]


def milestones(log: list[str]) -> list[float]:
    seen: list[float] = []
    for line in log:
        progress = progress_for(line)
        if progress is not None and (not seen or progress > seen[-1]):
            seen.append(progress)
    return seen


def launch(sim, model: str, *flags: str) -> str:
    hosts = ",".join(n.host for n in sim.nodes)
    serve = f"vllm serve {model} --host 0.0.0.0 --port {sim.vllm_port} --served-model-name m"
    return f"cd ~/spark-vllm-docker && ./launch-cluster.sh -n {hosts} -d exec {serve} {' '.join(flags)}"


def fake_lines(sim) -> list[str]:
    """The container log as ``docker logs`` delivers it (split at newlines only: a tqdm
    bar's ``\\r`` redraws stay in their line)."""
    raw = sim.head.paths.container_log("vllm_node").read_bytes().decode()
    return [line for line in raw.split("\n") if line]


def test_the_pace_is_the_captured_starts():
    """Each step of the fake's start sits where the real start reached it."""
    real = timed_lines("startup-ok")

    def first(text: str) -> float:
        return next(at for at, line in real if text in line) / READY_AT_S

    assert PACE["args"] == pytest.approx(first("version 0.32.0"), abs=0.01)
    assert PACE["engine"] == pytest.approx(first("Initializing a V1 LLM engine"), abs=0.01)
    assert PACE["worker"] == pytest.approx(first("Starting to load model"), abs=0.01)
    assert PACE["serving"] == pytest.approx(first("Starting vLLM server on"), abs=0.01)
    assert first("Application startup complete") == pytest.approx(1.0, abs=0.01)


async def test_a_start_has_the_real_line_shapes_and_milestones(sim):
    assert (await run(sim, launch(sim, QWEN, "--max-model-len", "32768"))).exit_status == 0
    await wait_healthy(sim)
    fake = fake_lines(sim)
    real = lines("startup-ok")
    fake_shapes = {shape(line) for line in fake}
    assert fake_shapes <= {shape(line) for line in real}
    assert {"vllm", "tqdm", "uvicorn"} <= fake_shapes
    assert any("version 0.32.0" in line for line in fake)  # the banner
    assert milestones(fake) == milestones(real)
    assert fake[-1] == "INFO:     Application startup complete."
    assert any("\rLoading safetensors checkpoint shards: 100%" in line for line in fake)


@pytest.mark.parametrize(
    ("capture", "flags", "exit_code"),
    [
        ("unrecognized-argument", ("--no-such-flag",), 2),
        ("max-model-len-too-large", ("--max-model-len", "100000"), 1),
    ],
)
async def test_refusals_look_like_the_real_ones(sim, capture, flags, exit_code):
    assert (await run(sim, launch(sim, QWEN, *flags))).exit_status == 0
    exited = await wait_for(sim.engine_exit, "the fake vLLM to exit")
    assert exited["exit_code"] == exit_code
    fake, real = signals.Diagnosis(), signals.Diagnosis()
    for line in fake_lines(sim):
        fake.observe(line)
    for line in lines(capture):
        real.observe(line)
    assert fake.decisive and real.decisive
    assert fake.best is not None and real.best is not None
    assert fake.best.fatal == real.best.fatal  # the same table entry names the cause
    if capture == "unrecognized-argument":
        assert fake_lines(sim)[-4:] == lines(capture)[-4:]  # argparse's text, verbatim
    else:
        assert fake.best.cause.replace("40960", "512") == real.best.cause  # only the model differs


async def test_corrupt_weights_end_like_the_real_ones(sim):
    snapshot = next((sim.head.paths.hf_hub / "models--Qwen--Qwen3-32B" / "snapshots").iterdir())
    weights = (snapshot / "model.safetensors").resolve()
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert (await run(sim, launch(sim, QWEN))).exit_status == 0
    exited = await wait_for(sim.engine_exit, "the fake vLLM to exit")
    assert exited["exit_code"] == 1
    fake = fake_lines(sim)
    real = lines("truncated-safetensors")

    def order(log: list[str]) -> list[str]:
        keys = ("SafetensorError", "EngineCore failed to start", "WorkerProc initialization failed")
        return [k for line in log for k in keys if k in line][:3]

    assert order(fake) == order(real)
    assert {shape(line) for line in fake} <= {shape(line) for line in real} | {"argparse"}
