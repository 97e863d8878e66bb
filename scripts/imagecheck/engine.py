"""A Docker engine to build and run the image with, and the base image the Dockerfile starts from.

* :func:`engine` yields a ``Docker`` client bound to a running engine: the one already running
  (``docker info`` answers), or a ``dockerd`` started here (Debian's ``docker.io``, overlay2
  storage or vfs where overlay2 cannot work, no iptables, no bridge, its own socket) and stopped
  again on exit.
* :func:`base_image` answers the ``PYTHON_IMAGE`` build argument: the Dockerfile's own default
  when the engine has it or can pull it, otherwise a Debian bookworm root file system made with
  ``debootstrap`` (python3.11 + venv), cached as a tarball under ``CACHE`` and imported.

Everything waits with a timeout; a failure raises :class:`CheckFailed` with one sentence.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("SPARK_CONTROL_CACHE", "/var/cache/spark-control"))
DEFAULT_PYTHON_IMAGE = "python:3.11-slim"
# What the Dockerfile runs in its base: `python -m venv`, pip from ensurepip's bundled wheel,
# groupadd/useradd (passwd is in minbase), chown. ca-certificates lets pip reach PyPI over TLS.
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Certificate authorities this machine added to its own trust store (e.g. a TLS-inspecting
# egress proxy's). The base trusts them too, and pip is told to use the system store (pip
# otherwise trusts only its bundled certifi), so the build reaches PyPI the way the host does.
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
PULL_TIMEOUT_S = 60
ENGINE_START_TIMEOUT_S = 60


class CheckFailed(Exception):
    """The image check cannot go on; the message is the one line to print."""


@dataclass(frozen=True)
class Docker:
    """The docker CLI, pointed at one engine."""

    host: str | None  # DOCKER_HOST, or None for the CLI's default

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The legacy builder: it honours --network host, which the engine started here needs
        # (no iptables, so no NAT for a bridge network), and needs no buildx plugin.
        env["DOCKER_BUILDKIT"] = "0"
        if self.host:
            env["DOCKER_HOST"] = self.host
        return env

    def run(
        self, *args: str, timeout: float = 180, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["docker", *args],
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"docker {args[0]} did not finish within {timeout:.0f} s") from None
        if check and done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise CheckFailed(f"docker {' '.join(args[:2])} failed: {' | '.join(tail)}")
        return done

    def answers(self) -> bool:
        try:
            return (
                self.run(
                    "info", "--format", "{{.ServerVersion}}", timeout=15, check=False
                ).returncode
                == 0
            )
        except CheckFailed:
            return False

    def has_image(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, timeout=30, check=False).returncode == 0


def docker_arch() -> str:
    """The machine's architecture as Docker and Debian name it."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def manifest_arch() -> str:
    """The machine's architecture as the manifest and the Dockerfile's ARCH name it."""
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(docker_arch(), platform.machine())


@contextlib.contextmanager
def engine(log_dir: Path) -> Iterator[Docker]:
    """A Docker engine for the length of the block; one started here is stopped at the end."""
    if shutil.which("docker") is None:
        raise CheckFailed("the docker CLI is not installed (Debian: apt-get install docker.io)")
    existing = Docker(None)
    if existing.answers():
        yield existing
        return
    if shutil.which("dockerd") is None:
        raise CheckFailed("no Docker engine is running and dockerd is not installed")
    if os.geteuid() != 0:
        raise CheckFailed("no Docker engine is running, and starting dockerd needs root")
    data_root = CACHE / "docker"
    data_root.mkdir(parents=True, exist_ok=True)
    # overlay2 where the kernel and file system allow it; vfs (a full copy per layer, several
    # times slower, but works anywhere) otherwise.
    for driver in ("overlay2", "vfs"):
        with _dockerd(driver, data_root, log_dir) as docker:
            if docker is not None:
                yield docker
                return
    raise CheckFailed(f"dockerd did not start with overlay2 or vfs: see {log_dir}/dockerd-*.log")


@contextlib.contextmanager
def _dockerd(driver: str, data_root: Path, log_dir: Path) -> Iterator[Docker | None]:
    """dockerd with ``driver`` for the block, or None when it exits at startup."""
    run_dir = Path(tempfile.mkdtemp(prefix="spark-control-dockerd-", dir="/run"))
    socket = run_dir / "docker.sock"
    log_path = log_dir / f"dockerd-{driver}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                "dockerd",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                f"--storage-driver={driver}",
                f"--data-root={data_root}",
                f"--exec-root={run_dir / 'exec'}",
                f"--pidfile={run_dir / 'docker.pid'}",
                f"--host=unix://{socket}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    docker = Docker(f"unix://{socket}")
    try:
        deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
        while not docker.answers():
            if process.poll() is not None:
                yield None
                return
            if time.monotonic() > deadline:
                raise CheckFailed(f"dockerd did not answer within {ENGINE_START_TIMEOUT_S} s")
            time.sleep(0.5)
        print(f"image-check: started dockerd ({driver}, data in {data_root})", flush=True)
        yield docker
    finally:
        stop_process(process, 30)
        unmount_under(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


def unmount_under(directory: Path) -> None:
    """Unmount what dockerd left mounted under ``directory`` (its default network namespace)."""
    prefix = f"{directory}/"
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        targets = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", target], capture_output=True, timeout=30, check=False)


def stop_process(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; only this process (and its own group)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def base_image(docker: Docker) -> str:
    """The ``PYTHON_IMAGE`` to build from: the Dockerfile's default when available, else the
    debootstrapped bookworm base (built once per machine, then reused from the cache)."""
    if docker.has_image(DEFAULT_PYTHON_IMAGE):
        return DEFAULT_PYTHON_IMAGE
    try:
        pulled = docker.run("pull", DEFAULT_PYTHON_IMAGE, timeout=PULL_TIMEOUT_S, check=False)
        if pulled.returncode == 0:
            return DEFAULT_PYTHON_IMAGE
    except CheckFailed:
        pass
    print(
        f"image-check: {DEFAULT_PYTHON_IMAGE} cannot be pulled; using a debootstrap base",
        flush=True,
    )
    recipe = hashlib.sha256(
        f"bookworm {docker_arch()} {' '.join(BASE_PACKAGES)}".encode()
        + b"".join(ca.read_bytes() for ca in local_cas())
    ).hexdigest()[:12]
    tag = f"spark-control-base:bookworm-{docker_arch()}-{recipe}"
    if docker.has_image(tag):
        return tag
    for stale in docker.run(
        "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "spark-control-base"
    ).stdout.split():
        if stale != tag:
            docker.run("image", "rm", stale, check=False)  # an older recipe's base
    tarball = CACHE / f"bookworm-{docker_arch()}-{recipe}.tar"
    if not tarball.exists():
        build_rootfs_tarball(tarball)
    docker.run(
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        'CMD ["python3"]',
        "--change",
        "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
        str(tarball),
        tag,
        timeout=600,
    )
    return tag


def local_cas() -> list[Path]:
    return sorted(LOCAL_CAS.glob("*.crt")) if LOCAL_CAS.is_dir() else []


def build_rootfs_tarball(tarball: Path) -> None:
    """debootstrap a minimal bookworm with Python 3.11 and venv into ``tarball``."""
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        raise CheckFailed(
            f"{DEFAULT_PYTHON_IMAGE} cannot be pulled and debootstrap (as root) is not available"
        )
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bookworm-", dir=tarball.parent) as work:
        rootfs = Path(work) / "rootfs"
        started = time.monotonic()
        done = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--arch={docker_arch()}",
                f"--include={','.join(BASE_PACKAGES)}",
                "bookworm",
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        if done.returncode != 0:
            tail = done.stdout.strip().splitlines()[-3:] + done.stderr.strip().splitlines()[-3:]
            raise CheckFailed(f"debootstrap failed: {' | '.join(tail)}")
        cas = local_cas()
        if cas:
            target = rootfs / "usr/local/share/ca-certificates"
            target.mkdir(parents=True, exist_ok=True)
            for ca in cas:
                shutil.copy(ca, target / ca.name)
            subprocess.run(
                ["chroot", str(rootfs), "update-ca-certificates"],
                capture_output=True,
                timeout=120,
                check=True,
            )
        # Downloaded packages and package lists only make the base bigger.
        for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / leftovers).glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."],
            check=True,
            timeout=600,
        )
        partial.replace(tarball)
        for stale in tarball.parent.glob(f"bookworm-{docker_arch()}-*.tar"):
            if stale != tarball:
                stale.unlink()  # an older recipe's base: never used again
        print(
            f"image-check: debootstrapped bookworm in {time.monotonic() - started:.0f} s "
            f"({tarball})",
            flush=True,
        )
