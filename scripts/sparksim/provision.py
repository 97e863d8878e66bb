"""Build a simulated Spark's filesystem: directories, the fakes on PATH, the launch script, the
HF cache, and the cluster-wide registry, settings and demo model.

Each fake is a two-line ``/bin/sh`` wrapper that execs the simulator's Python (absolute
``sys.executable``) on a module of this package with ``-S``: no site-packages are needed and
interpreter start-up stays around 20 ms, which matters because the controller runs these
commands constantly. Everything here is idempotent.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scripts.sparksim import hfcache
from scripts.sparksim.layout import NodePaths, SimPaths, write_json

# PATH entry -> module implementing it.
FAKES = {
    "docker": "scripts.sparksim.fake_docker",
    "nvidia-smi": "scripts.sparksim.fake_nvidia_smi",
}
LAUNCH_MODULE = "scripts.sparksim.launch_cluster"
DEMO_MODEL = "demo-finetune"


def _wrapper(python: str, module: str, comment: str) -> str:
    return (
        f"#!/bin/sh\n# {comment} (Spark simulator)\n"
        f"export PYTHONPATH={shlex.quote(str(hfcache.REPO_ROOT))}\n"
        f'exec {shlex.quote(python)} -S -m {module} "$@"\n'
    )


def _write_executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def provision_node(node: NodePaths, python: str, repos: Iterable[str]) -> None:
    """Create ``node``'s home, PATH fakes, launch script and HF cache holding ``repos``."""
    for directory in (node.home, node.containers, node.hidden):
        directory.mkdir(parents=True, exist_ok=True)
    for name, module in FAKES.items():
        _write_executable(node.bin / name, _wrapper(python, module, f"fake {name}"))
    _write_executable(
        node.launch_dir / "launch-cluster.sh",
        _wrapper(python, LAUNCH_MODULE, "stand-in for spark-vllm-docker's launch-cluster.sh"),
    )
    (node.launch_dir / "README.md").write_text("spark-vllm-docker, simulated by scripts/sparksim\n")
    for repo in repos:
        hfcache.populate_repo(node.hf_hub, repo)


def write_peer_ssh(
    node: NodePaths, client_key: Path, cluster_link: dict[str, str] | None = None
) -> None:
    """The node's ``ssh`` for reaching the other Sparks (what rsync runs for ``host:path``).

    Real Sparks trust each other over SSH (``launch-cluster.sh`` relies on it). OpenSSH's
    client reads its files from the account's home in the password database, not ``$HOME``,
    so the simulated node gets an ``ssh`` wrapper on its PATH with a config of its own: the
    cluster's key (the simulated sshd accepts the controller's key), first-use host keys kept
    per node, never a prompt. ``cluster_link`` maps each node's cluster-link address to its
    SSH host: the peers reach one another there, as over the real ConnectX link."""
    config = node.dir / "ssh_config"
    aliases = "".join(
        f"Host {address}\n  HostName {host}\n" for address, host in (cluster_link or {}).items()
    )
    config.write_text(
        aliases + "Host *\n"
        f"  IdentityFile {client_key}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {node.dir / 'known_hosts'}\n"
        "  StrictHostKeyChecking accept-new\n"
        "  BatchMode yes\n"
        "  LogLevel ERROR\n"
    )
    _write_executable(
        node.bin / "ssh",
        "#!/bin/sh\n# the node's ssh to its peers (Spark simulator)\n"
        f'exec /usr/bin/ssh -F {shlex.quote(str(config))} "$@"\n',
    )


def write_cluster(paths: SimPaths, nodes: Iterable[Any]) -> None:
    """The registry the launch script uses to act on workers: ``[{name, host, ssh_port,
    home, cluster_address}]``, head first (``cluster_address`` None without a cluster link),
    from the simulator's nodes (``SimNode``: those attributes)."""
    fields = ("name", "host", "ssh_port", "cluster_address")
    entries = [{f: getattr(n, f) for f in fields} | {"home": str(n.home)} for n in nodes]
    write_json(paths.cluster, {"nodes": entries})


def write_settings(
    paths: SimPaths, *, load_time: float, token_rate: float, vllm_cmd: str = ""
) -> None:
    """Settings the next engine start reads (load time, token rate, the vLLM command)."""
    write_json(
        paths.settings,
        {"load_time": float(load_time), "token_rate": float(token_rate), "vllm_cmd": vllm_cmd},
    )


def provision_shared(paths: SimPaths) -> Path:
    """The cluster-wide pieces: the local model root with a demo model. Returns the root."""
    paths.pids.mkdir(parents=True, exist_ok=True)
    hfcache.create_local_model(paths.models / DEMO_MODEL)
    return paths.models
