"""The simulator's ``docker`` against a real one: every command Spark Control sends a Spark, in
each state of its container, answers as the captured real Docker did (exit status, the stream
and wording of its errors, the shape of its output). The samples were captured with
``python -m scripts.imagecheck.docker_samples`` (Docker CLI 28.2.2, engine 20.10.24); where
newer engines word an error differently, the check says so."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from scripts.imagecheck.docker_samples import EXITED, MISSING_IMAGE, RUNNING, SCENARIOS
from scripts.sparksim import SparkSim
from tests.sim.sim_helpers import launch_command, run, wait_healthy

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "docker-28.2.2-20.10.24"
REAL: dict[str, dict[str, Any]] = json.loads((SAMPLES / "samples.json").read_text())["samples"]
IMAGE = "vllm-node"  # the simulator's image
SIM_NAMES = {RUNNING: "vllm_node", EXITED: "exited-sample"}
ID = re.compile(r"\b[0-9a-f]{12,64}\b")
# Engines since 23 say "container … is not running" and "No such image: X"; 20.10 said
# "Container … is not running" and "no such image: X: No such image: X".
NEWER_WORDING = {"top exited", "image inspect missing"}


def normalised(text: str, names: dict[str, str]) -> str:
    for real, sim in names.items():
        text = text.replace(real, sim)
    return ID.sub("ID", text)


def test_the_samples_cover_every_scenario() -> None:
    assert set(REAL) == set(SCENARIOS)


async def answers(sim: SparkSim) -> dict[str, Any]:
    """Every scenario run on the simulated head, its containers set up as the capture's."""
    launched = await run(sim, launch_command(sim, "Qwen/Qwen3-32B", "qwen"))
    assert launched.exit_status == 0, launched.stderr
    await wait_healthy(sim)
    exited = await run(
        sim,
        f"docker run --name {SIM_NAMES[EXITED]} --entrypoint sh {IMAGE} "
        "-c 'echo to stdout; echo to stderr >&2; exit 3'",
    )
    assert exited.exit_status == 3
    # What the captured engine lacked: the missing image, and `hf` in the image it ran.
    sim.inject("spark1", "image_missing", image=MISSING_IMAGE)
    sim.inject("spark1", "image_lacks", command="hf")
    results = {}
    for scenario, args in SCENARIOS.items():
        argv = ["docker", *(SIM_NAMES.get(a, a) for a in args)]
        argv = [IMAGE if a == "IMAGE" else a.replace(RUNNING, SIM_NAMES[RUNNING]) for a in argv]
        results[scenario] = await run(sim, shlex.join(argv))
    return results


async def test_the_fake_answers_as_the_real_docker(sim: SparkSim) -> None:
    fake = await answers(sim)
    statuses = {name: result.exit_status for name, result in fake.items()}
    assert statuses == {name: sample["exit_status"] for name, sample in REAL.items()}
    names = {**SIM_NAMES, "IMAGE": IMAGE}
    for scenario in sorted(set(SCENARIOS) - {"top running", "logs exited"}):
        real, got = REAL[scenario], fake[scenario]
        if scenario in NEWER_WORDING:
            assert got.stderr.lower().startswith("error response from daemon: "), scenario
            last = normalised(real["stderr"], names).strip().split(": ")[-1].lower()
            assert last in normalised(got.stderr, names).lower(), scenario
            continue
        assert normalised(got.stderr, names) == normalised(real["stderr"], names), scenario
        if scenario == "image inspect present":
            assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", got.stdout), got.stdout
        else:
            assert normalised(got.stdout, names) == normalised(real["stdout"], names), scenario

    # `docker top`: the header column for column, each row's columns where it puts them.
    real_top, top = REAL["top running"]["stdout"], fake["top running"].stdout
    assert top.splitlines()[0] == real_top.splitlines()[0]
    assert top.endswith("\n") and real_top.endswith("\n")
    for row in top.splitlines()[1:]:
        assert row[:20].strip() == "root" and row[20:40].strip().isdigit(), row
        assert row[140:].strip(), row

    # `docker logs`: a real engine replays each line on the stream it was written to; the
    # simulator keeps one log, on stdout. Spark Control reads both streams together, so the
    # lines are what must match.
    real_logs, logs = REAL["logs exited"], fake["logs exited"]
    assert sorted((real_logs["stdout"] + real_logs["stderr"]).splitlines()) == sorted(
        (logs.stdout + logs.stderr).splitlines()
    )
