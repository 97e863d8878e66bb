"""``make demo``: Spark Control on http://127.0.0.1:8080 against two simulated Sparks.

Starts the Spark simulator (real SSH servers on 127.0.0.x with fake docker, nvidia-smi,
launch-cluster.sh and a fake vLLM) as a child process, waits for it to write its config, then
serves Spark Control in the foreground. Ctrl-C stops both.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8080")))
    parser.add_argument(
        "--load-time", type=float, default=4.0, help="seconds a simulated model takes to load"
    )
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="spark-control-demo-"))
    sim_root = root / "sim"
    config = root / "config.yaml"
    catalog = write_demo_catalog(root, sim_root)
    sim = start_simulator(root, sim_root, catalog, config, args.load_time)
    try:
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
    except KeyboardInterrupt:
        return 0
    finally:
        if sim.poll() is None:
            sim.send_signal(signal.SIGTERM)
            try:
                sim.wait(15)
            except subprocess.TimeoutExpired:
                sim.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
