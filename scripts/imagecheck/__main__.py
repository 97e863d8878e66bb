"""``make image-check``: build the StartOS image for this machine and run it against the Spark
simulator, the way StartOS runs it.

Checks, each failing the run with one line (exit 1):

* the image builds for this machine's architecture from the Dockerfile (``ARCH`` build arg);
* its own layers (everything above the base image) stay under ``MAX_OWN_MB``;
* it runs as a user other than root;
* the data volume, prepared as StartOS does (written as root, then main.ts's ``chown`` oneshot
  run in the image), lets the app start: ``/api/health`` answers 200 within ``HEALTH_WITHIN_S``;
* a swap started over the API reaches ``ready``: the container logs in to the simulated Sparks
  over SSH (host networking: the Sparks listen on 127.0.0.x) and launches the fake vLLM;
* every file on the data volume afterwards belongs to the app's user.

Everything it started (dockerd, the simulator, the container, the image) is stopped or removed
at the end, whatever happened. Figures (build time, own size, total time) are printed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from scripts.imagecheck.engine import CheckFailed, Docker, base_image, engine, manifest_arch

ROOT = Path(__file__).resolve().parents[2]
MAX_OWN_MB = 120
HEALTH_WITHIN_S = 5.0
SWAP_WITHIN_S = 180.0
BUILD_TIMEOUT_S = 1200
APP_UID = 1000
MODEL = "gemma-3-27b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(what: str, within_s: float, probe: Callable[[], Any]) -> Any:
    """Call ``probe`` until it returns something truthy; CheckFailed after ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what} within {within_s:.0f} s")
        time.sleep(0.1)


def http(
    method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 5.0
) -> tuple[int, Any]:
    """One request: (status, parsed JSON or None); (0, None) if no answer within ``timeout``."""
    try:
        response = httpx.request(method, url, json=body, timeout=timeout, trust_env=False)
    except httpx.HTTPError:
        return 0, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def build(docker: Docker, base: str, tag: str) -> float:
    started = time.monotonic()
    done = subprocess.run(
        [
            "docker",
            "build",
            "--force-rm",
            "--network",
            "host",
            "--build-arg",
            f"PYTHON_IMAGE={base}",
            "--build-arg",
            f"ARCH={manifest_arch()}",
            "-t",
            tag,
            str(ROOT),
        ],
        env=docker.env(),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
        raise CheckFailed("the image does not build:\n  " + "\n  ".join(tail))
    return time.monotonic() - started


def own_megabytes(docker: Docker, tag: str, base: str) -> float:
    """The size of the image's own layers: the image minus the base it was built on."""
    size = {
        ref: int(docker.run("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())
        for ref in (tag, base)
    }
    return (size[tag] - size[base]) / 1e6


def image_user_uid(docker: Docker, tag: str) -> int:
    done = docker.run("run", "--rm", "--network", "none", "--entrypoint", "id", tag, "-u")
    return int(done.stdout.strip())


def start_simulator(work: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """The Spark simulator (two Sparks over real SSH on 127.0.0.x); returns it and its config."""
    config_path = work / "sim-config.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scripts.sparksim",
            "--nodes",
            "2",
            "--root",
            str(work / "sim"),
            "--config-out",
            str(config_path),
            "--load-time",
            "2",
        ],
        cwd=ROOT,
        stdout=(work / "sim.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def written() -> bool:
        if process.poll() is not None:
            raise CheckFailed(f"the Spark simulator exited ({process.returncode}): see sim.log")
        return config_path.exists()

    poll("the Spark simulator did not start", 90, written)
    return process, yaml.safe_load(config_path.read_text(encoding="utf-8"))


def prepare_data_volume(data: Path, sim_config: dict[str, Any]) -> None:
    """The data volume as StartOS leaves it before main starts: config and key written as root.

    The simulator's client key stands in for the key the app would generate, because the
    simulated Sparks already trust it; every path points inside /data as on StartOS."""
    ssh = data / "ssh"
    ssh.mkdir(parents=True)
    key = Path(sim_config["ssh"]["key_file"])
    shutil.copy(key, ssh / "id_ed25519")
    shutil.copy(key.with_name(key.name + ".pub"), ssh / "id_ed25519.pub")
    (ssh / "id_ed25519").chmod(0o600)
    config = {
        **sim_config,
        "ssh": {"key_file": "/data/ssh/id_ed25519", "known_hosts": "/data/ssh/known_hosts"},
        "services": {"disabled": [], "overrides_file": "/data/services-overrides.yaml"},
        "models": {**sim_config["models"], "overrides_file": "/data/models-overrides.yaml"},
    }
    (data / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def give_volume_to_app(docker: Docker, tag: str, data: Path) -> None:
    """main.ts's first step: the root ``chown`` oneshot, run in the image."""
    docker.run(
        "run", "--rm", "--network", "none", "--user", "root", "-v", f"{data}:/data",
        "--entrypoint", "chown", tag, "-R", "-h", "sparkctl:sparkctl", "/data",
    )  # fmt: skip


def run_app(docker: Docker, tag: str, data: Path, port: int) -> str:
    """main.ts's daemon: the app as the image's user, on the host network."""
    done = docker.run(
        "run", "-d", "--network", "host", "-v", f"{data}:/data", tag,
        "python", "-m", "app", "--config", "/data/config.yaml",
        "--host", "127.0.0.1", "--port", str(port),
    )  # fmt: skip
    return done.stdout.strip()


def wait_healthy(base_url: str, started: float) -> float:
    """Seconds from ``started`` to the first 200 of /api/health; CheckFailed past the limit."""
    deadline = started + HEALTH_WITHIN_S
    while (left := deadline - time.monotonic()) > 0:
        if http("GET", f"{base_url}/api/health", timeout=max(left, 0.1))[0] == 200:
            elapsed = time.monotonic() - started
            if elapsed <= HEALTH_WITHIN_S:
                return elapsed
            break
        time.sleep(0.1)
    raise CheckFailed(f"/api/health did not answer 200 within {HEALTH_WITHIN_S:.0f} s")


def check_swap(base_url: str) -> str:
    status, job = http("POST", f"{base_url}/api/swap", {"model_key": MODEL})
    if status != 202 or not isinstance(job, dict):
        raise CheckFailed(f"POST /api/swap answered {status}")
    job_id = job["job_id"]

    def finished() -> dict[str, Any] | None:
        code, view = http("GET", f"{base_url}/api/swap/{job_id}")
        if code == 200 and view["state"] in ("ready", "failed", "cancelled"):
            return view
        return None

    view = poll(f"the swap to {MODEL} did not finish", SWAP_WITHIN_S, finished)
    if view["state"] != "ready":
        raise CheckFailed(f"the swap ended {view['state']}: {view.get('error')}")
    return job_id


def foreign_files(data: Path) -> list[str]:
    """Files and directories on the data volume not owned by the app's user."""
    wrong = []
    for path in [data, *data.rglob("*")]:
        info = path.lstat()
        if info.st_uid != APP_UID or info.st_gid != APP_UID:
            wrong.append(f"{path.relative_to(data)} ({info.st_uid}:{info.st_gid})")
    return wrong


def check(docker: Docker, work: Path) -> None:
    # Earlier runs' stages stay as build cache; a week later they are only taking space.
    docker.run("image", "prune", "--force", "--filter", "until=168h", check=False, timeout=300)
    base = base_image(docker)
    tag = f"spark-control:image-check-{os.getpid()}"
    seconds = build(docker, base, tag)
    print(f"image-check: built {tag} for {manifest_arch()} in {seconds:.0f} s", flush=True)
    container = None
    sim = None
    try:
        own = own_megabytes(docker, tag, base)
        print(f"image-check: own layers {own:.1f} MB (limit {MAX_OWN_MB})", flush=True)
        if own >= MAX_OWN_MB:
            raise CheckFailed(f"the image's own layers are {own:.1f} MB, over {MAX_OWN_MB} MB")
        uid = image_user_uid(docker, tag)
        if uid == 0:
            raise CheckFailed("the image runs as root")
        print(f"image-check: runs as uid {uid}", flush=True)

        sim, sim_config = start_simulator(work)
        data = work / "data"
        prepare_data_volume(data, sim_config)
        give_volume_to_app(docker, tag, data)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        container = run_app(docker, tag, data, port)
        elapsed = wait_healthy(base_url, time.monotonic())
        print(
            f"image-check: /api/health 200 {elapsed:.1f} s after the container started", flush=True
        )
        job_id = check_swap(base_url)
        print(
            f"image-check: swap {job_id} to {MODEL} ready over SSH from the container", flush=True
        )
        wrong = foreign_files(data)
        if wrong:
            raise CheckFailed(f"data volume files not owned by uid {APP_UID}: {', '.join(wrong)}")
        print(f"image-check: every file on the data volume belongs to uid {APP_UID}", flush=True)
    except CheckFailed:
        if container:
            logs = docker.run("logs", "--tail", "30", container, check=False)
            print((logs.stdout + logs.stderr).rstrip(), file=sys.stderr)
        raise
    finally:
        if container:
            docker.run("rm", "-f", container, check=False)
        if sim is not None and sim.poll() is None:
            sim.send_signal(signal.SIGTERM)
            try:
                sim.wait(20)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait(10)
        docker.run("image", "rm", "-f", tag, check=False, timeout=300)


def main() -> int:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="spark-control-image-check-"))
    try:
        with engine(work) as docker:
            check(docker, work)
    except CheckFailed as err:
        print(f"image-check: FAILED: {err} (logs in {work})", file=sys.stderr)
        return 1
    print(f"image-check: passed in {time.monotonic() - started:.0f} s", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
