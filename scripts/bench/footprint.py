"""Cold start and idle memory of the server process.

Starts ``python -m app`` on a sample config (two Sparks on loopback ports nobody serves),
measures the time from ``exec`` to the first ``GET /api/health`` 200, then the resident set size
after the process has been idle for a second. Median of several runs.
Targets: cold start ≤ 1.5 s, idle RSS ≤ 80 MB.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

RUNS = 5
# Two Sparks on loopback ports nobody serves: the app's background probes find them down, as
# they would find powered-off Sparks, and no traffic leaves this machine.
SAMPLE_CONFIG = """
sparks:
  - {name: spark1, host: 127.0.0.1, ssh_port: PORT1}
  - {name: spark2, host: 127.0.0.2, ssh_port: PORT2}
ssh: {key_file: KEY, known_hosts: KNOWN}
storage: {database: DATABASE}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def one_run(
    config: Path, then: Callable[[httpx.Client, str], None] | None = None
) -> tuple[float, float]:
    """Start the app on ``config``; returns (seconds to /api/health 200, RSS in MB a second
    after, or after ``then(client, base_url)`` when given)."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "--config",
            str(config),
            "--port",
            str(port),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(timeout=1) as client:
            deadline = started + 30
            while True:
                try:
                    if client.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited with status {proc.returncode}")
                if time.perf_counter() > deadline:
                    raise RuntimeError("server did not become healthy within 30 s")
                time.sleep(0.005)
        cold = time.perf_counter() - started
        if then is not None:
            with httpx.Client(timeout=30) as client:
                then(client, f"http://127.0.0.1:{port}")
        time.sleep(1.0)
        return cold, rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        text = (
            SAMPLE_CONFIG.replace("KEY", f"{tmp}/id_ed25519")
            .replace("KNOWN", f"{tmp}/known_hosts")
            .replace("DATABASE", f"{tmp}/spark-control.db")
            .replace("PORT1", str(free_port()))
            .replace("PORT2", str(free_port()))
        )
        config.write_text(text)
        one_run(config)  # warm the filesystem cache: we measure start-up, not disk reads
        runs = [one_run(config) for _ in range(RUNS)]
    cold = statistics.median(r[0] for r in runs)
    rss = statistics.median(r[1] for r in runs)
    print(f"cold start to /api/health 200: median {cold:.3f} s over {RUNS} runs (target <= 1.5 s)")
    print(f"idle RSS: median {rss:.1f} MB (target <= 80 MB)")


if __name__ == "__main__":
    main()
