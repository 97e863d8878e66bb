"""``make demo``: Spark Control on http://127.0.0.1:8080 against two simulated Sparks.

Starts the Spark simulator (real SSH servers on 127.0.0.x with fake docker, nvidia-smi,
launch-cluster.sh and a fake vLLM) as a child process, waits for it to write its config, then
serves Spark Control in the foreground. Ctrl-C (SIGINT), SIGTERM and SIGHUP all stop both and
remove the temporary directory (it holds the simulator's private SSH keys).

uvicorn handles SIGINT/SIGTERM itself while it serves (a graceful shutdown), then re-raises the
signal once it has restored the previous handlers; the default SIGTERM/SIGHUP action would then
kill the process before any ``finally`` runs. So the demo installs its own handlers first: they
raise :class:`Stopped`, which unwinds through the cleanup. SIGHUP, which uvicorn ignores, is
turned into a SIGTERM, so it too gets the graceful shutdown while serving.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from app.__main__ import main as serve_app
from app.catalog.store import bundled_catalog_text

LOCAL_MODEL = {
    "key": "demo-finetune",
    "name": "Demo fine-tune (local directory)",
    "knobs": {"tensor_parallel_size": 2, "max_model_len": 8192},
}


def write_demo_catalog(root: Path, sim_root: Path) -> Path:
    """The bundled catalog plus one local_path model living in the simulator's model root."""
    catalog = yaml.safe_load(bundled_catalog_text())
    catalog["models"].append(
        {**LOCAL_MODEL, "local_path": str(sim_root / "models" / "demo-finetune")}
    )
    path = root / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    return path


def start_simulator(
    root: Path, sim_root: Path, catalog: Path, config: Path, load_time: float
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scripts.sparksim",
            "--nodes",
            "2",
            "--root",
            str(sim_root),
            "--config-out",
            str(config),
            "--catalog",
            str(catalog),
            "--load-time",
            str(load_time),
            "--token-rate",
            "40",
        ],
        stdout=(root / "sim.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_for(path: Path, sim: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if sim.poll() is not None:
            raise SystemExit(
                f"the Spark simulator exited with status {sim.returncode}; see its log"
            )
        if time.monotonic() > deadline:
            raise SystemExit("the Spark simulator did not start within 60 s")
        time.sleep(0.05)


class Stopped(Exception):
    """A stop signal arrived (raised from the signal handler, so ``finally`` blocks run)."""


def _stop(signum: int, _frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


def _hangup(_signum: int, _frame: object) -> None:
    # While uvicorn serves, its SIGTERM handler shuts the server down gracefully (then re-raises
    # SIGTERM into _stop); before or after serving, _stop runs at once.
    signal.raise_signal(signal.SIGTERM)


def install_stop_handlers() -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, _hangup)


def stop_simulator(sim: subprocess.Popen[bytes]) -> None:
    """SIGTERM the simulator (it stops every process it started) and wait for it."""
    if sim.poll() is None:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(15)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8080")))
    parser.add_argument(
        "--load-time", type=float, default=4.0, help="seconds a simulated model takes to load"
    )
    args = parser.parse_args(argv)

    install_stop_handlers()
    root = Path(tempfile.mkdtemp(prefix="spark-control-demo-"))
    sim: subprocess.Popen[bytes] | None = None
    try:
        sim_root = root / "sim"
        config = root / "config.yaml"
        catalog = write_demo_catalog(root, sim_root)
        sim = start_simulator(root, sim_root, catalog, config, args.load_time)
        wait_for(config, sim)
        url = f"http://127.0.0.1:{args.port}"
        print(
            f"\nSpark Control demo: {url}\n"
            f"  two simulated Sparks over real SSH (simulator log: {root / 'sim.log'})\n"
            "  try:\n"
            f"    open {url} and swap a model\n"
            f"    curl -s {url}/api/status\n"
            f"    curl -s -X POST {url}/api/swap -H 'Content-Type: application/json' "
            '-d \'{"model_key": "gemma-3-27b"}\'\n'
            f'    curl -s -X POST {url}/api/swap/lock -d \'{{"holder": "me", "ttl_seconds": 300}}\'\n'
            "    + Add model with repo sparksim/anything and 'Download, then swap' (a fake\n"
            "      Hugging Face hub serves any sparksim/<name> repo)\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        return serve_app(["--config", str(config), "--host", "127.0.0.1", "--port", str(args.port)])
    except (KeyboardInterrupt, Stopped):
        return 0
    finally:
        # A second signal must not interrupt the cleanup halfway: we are exiting anyway.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if sim is not None:
            stop_simulator(sim)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
