"""``python -m scripts.sparksim --nodes 2 --config-out PATH [--root DIR] [--load-time S]
[--token-rate R] [--catalog FILE] [--hub-model-mb N] [--ssh asyncssh|openssh|openssh-loopback]
[--vllm-cmd CMD]``

Starts the simulated Sparks, writes the Spark Control config once every node accepts SSH,
prints one line per node on stdout (``spark1 127.0.0.1:40123 home=…``), then runs until
SIGTERM or SIGINT, stops every process it started and exits 0. Without ``--root`` the state
lives in a new temporary directory that is removed at exit. Exit 2 on bad arguments or an
unusable catalog, 1 when an address cannot be bound.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from scripts.sparksim import hfcache
from scripts.sparksim.openssh import BACKENDS
from scripts.sparksim.sim import SparkSim


def _positive(kind: type) -> object:
    def convert(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return convert


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.sparksim", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument(
        "--nodes", type=_positive(int), default=2, help="number of Sparks (default 2)"
    )
    parser.add_argument(
        "--config-out", type=Path, required=True, help="where to write the config YAML"
    )
    parser.add_argument("--root", type=Path, help="state directory (default: a new temp dir)")
    parser.add_argument("--load-time", type=float, default=3.0, help="fake vLLM load seconds (3)")
    parser.add_argument("--token-rate", type=_positive(float), default=50.0, help="tokens/s (50)")
    parser.add_argument("--catalog", type=Path, help="models.yaml whose repos fill the HF caches")
    parser.add_argument(
        "--hub-model-mb",
        type=_positive(int),
        default=256,
        help="size in MiB of the weights of the fake hub's sparksim/<name> repos (256)",
    )
    parser.add_argument(
        "--ssh",
        choices=BACKENDS,
        default="asyncssh",
        help="SSH server per node: asyncssh (default) or OpenSSH's sshd (see openssh.py)",
    )
    parser.add_argument(
        "--vllm-cmd",
        default="",
        help="command that replaces `vllm` in a launched `vllm serve …` (e.g. a real vLLM's "
        "console script; default: the fake vLLM)",
    )
    parser.add_argument(
        "--cluster-link",
        action="store_true",
        help="give each node a cluster-link address 127.0.1.x (the config's cluster_address): "
        "launch-cluster.sh -n then accepts only those",
    )
    args = parser.parse_args(argv)
    if args.load_time < 0:
        parser.error("--load-time must be >= 0")
    if args.nodes > 200:
        parser.error("--nodes must be at most 200 (one 127.0.0.x address each)")
    return args


async def run(args: argparse.Namespace) -> int:
    """Run the simulator until SIGTERM / SIGINT; returns the exit status."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        hfcache.catalog_repos(args.catalog)
    except (OSError, ValueError) as err:
        print(f"sparksim: cannot read the catalog: {err}", file=sys.stderr)
        return 2
    temporary = args.root is None
    root = Path(tempfile.mkdtemp(prefix="sparksim-")) if temporary else args.root
    sim = SparkSim(
        root,
        args.nodes,
        load_time=args.load_time,
        token_rate=args.token_rate,
        catalog=args.catalog,
        ssh=args.ssh,
        hub_model_size=args.hub_model_mb * 1024 * 1024,
        vllm_cmd=args.vllm_cmd,
        cluster_link=args.cluster_link,
    )
    try:
        try:
            await sim.start()
        except OSError as err:
            print(f"sparksim: cannot start: {err}", file=sys.stderr)
            return 1
        sim.write_config(args.config_out)
        for node in sim.nodes:
            print(f"{node.name} {node.host}:{node.ssh_port} home={node.home}", flush=True)
        print(
            f"sparksim: config {args.config_out}; vLLM will listen on {sim.vllm_url}; "
            f"ssh key {sim.paths.client_key}; fake Hugging Face hub {sim.hub_url}; "
            "stop with Ctrl-C",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
        return 0
    finally:
        await sim.stop()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
