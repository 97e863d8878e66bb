"""``python -m scripts.imagecheck.docker_samples``: capture what a real Docker answers to the
commands Spark Control sends a Spark (``app/cluster/commands.py``), for the simulator's fake
``docker`` to be checked against (``tests/sim/test_fake_docker_real.py``).

It needs a Docker engine (the one running, or ``dockerd`` started here as for ``make
image-check``, root) and a local image to run (the image check's base: nothing is pulled). For
each :data:`SCENARIOS` entry it records the argv, the exit code, stdout and stderr, in
``tests/fixtures/docker-<client>-<engine>/samples.json``. The containers it starts are named
``spark-control-sample-*`` and removed at the end.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from scripts.imagecheck.engine import CheckFailed, Docker, base_image, engine

RUNNING = "spark-control-sample-vllm"  # runs a process titled as vLLM's engine core
EXITED = "spark-control-sample-exited"  # wrote a line to each stream, then exited 3
MISSING = "spark-control-sample-missing"  # never exists
MISSING_IMAGE = "spark-control-sample/missing:1"
FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"

# name -> the docker arguments; IMAGE stands for the local image. Each is a command of
# app/cluster/commands.py (or the swap's `docker run`) in one state of its container.
SCENARIOS: dict[str, list[str]] = {
    "ps running": ["ps", "-a", "--filter", f"name=^{RUNNING}$", "--format", "{{.Names}}"],
    "ps missing": ["ps", "-a", "--filter", f"name=^{MISSING}$", "--format", "{{.Names}}"],
    "top running": ["top", RUNNING],
    "top exited": ["top", EXITED],
    "top missing": ["top", MISSING],
    "logs exited": ["logs", "--tail", "5", EXITED],
    "logs missing": ["logs", "--tail", "5", MISSING],
    "image inspect present": ["image", "inspect", "--format", "{{.Id}}", "IMAGE"],
    "image inspect missing": ["image", "inspect", "--format", "{{.Id}}", MISSING_IMAGE],
    "run name in use": ["run", "--rm", "--name", RUNNING, "--entrypoint", "true", "IMAGE"],
    "run no such entrypoint": ["run", "--rm", "--entrypoint", "hf", "IMAGE", "download", "x"],
    "rm -f missing": ["rm", "-f", MISSING],
    "rm -f exited": ["rm", "-f", EXITED],  # last: it removes the exited container
}


def capture(docker: Docker, image: str) -> dict[str, dict[str, object]]:
    for name in (RUNNING, EXITED):
        docker.run("rm", "-f", name, check=False)
    docker.run(
        "run", "-d", "--name", RUNNING, "--entrypoint", "bash", image,
        "-c", "exec -a VLLM::EngineCore sleep infinity",
    )  # fmt: skip
    docker.run(
        "run", "--name", EXITED, "--entrypoint", "sh", image,
        "-c", "echo to stdout; echo to stderr >&2; exit 3",
        check=False,
    )  # fmt: skip
    samples: dict[str, dict[str, object]] = {}
    try:
        for scenario, args in SCENARIOS.items():
            argv = [image if arg == "IMAGE" else arg for arg in args]
            done = docker.run(*argv, check=False, timeout=60)
            samples[scenario] = {
                "argv": ["docker", *args],
                "exit_status": done.returncode,
                "stdout": done.stdout,
                "stderr": done.stderr,
            }
    finally:
        for name in (RUNNING, EXITED):
            docker.run("rm", "-f", name, check=False)
    return samples


def main() -> int:
    try:
        with tempfile.TemporaryDirectory(prefix="docker-samples-") as logs:
            with engine(Path(logs)) as docker:
                image = base_image(docker)
                client = docker.run("version", "--format", "{{.Client.Version}}").stdout.strip()
                server = docker.run("version", "--format", "{{.Server.Version}}").stdout.strip()
                samples = capture(docker, image)
    except CheckFailed as err:
        print(f"docker samples: {err}", file=sys.stderr)
        return 1
    folder = FIXTURES / f"docker-{client}-{server.split('+')[0]}"
    folder.mkdir(parents=True, exist_ok=True)
    record = {"client": client, "server": server, "image": "IMAGE", "samples": samples}
    text = json.dumps(record, indent=2, ensure_ascii=False).replace(image, "IMAGE")
    (folder / "samples.json").write_text(text + "\n", encoding="utf-8")
    print(f"docker samples: {len(samples)} written to {folder / 'samples.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
