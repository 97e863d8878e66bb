"""Where the simulator keeps its state on disk, and the JSON helpers every fake shares.

Everything a fake needs to know lives under the simulator root, so the fakes are stateless
programs: each invocation reads the files, acts, writes them back. The layout::

    <root>/sim.json                  settings the fake vLLM reads at start: load_time, token_rate
    <root>/cluster.json              registry, head first: [{name, host, ssh_port, home,
                                     cluster_address}]
    <root>/client/id_ed25519(.pub)   the controller's key pair (``ssh.key_file``)
    <root>/known_hosts               ``ssh.known_hosts`` (absent until the controller pins keys)
    <root>/models/demo-finetune/     a local model directory (``models.local_roots``)
    <root>/run/pids/<pid>            detached processes the fakes started (stopped by the sim)
    <root>/<node>/home/              HOME: spark-vllm-docker/, .cache/huggingface/hub/
    <root>/<node>/bin/               PATH: docker, nvidia-smi
    <root>/<node>/state/             containers/<name>.json + .log, gpu.json, vllm.json, hidden/
    <root>/<node>/faults.json        injected faults (see ``faults``)
    <root>/<node>/commands.log       every command string the node's SSH server ran
    <root>/<node>/sshd/              under OpenSSH (``openssh``): sshd_config, authorized_keys,
                                     the recording login shell, sshd.log
    <root>/python/                   under OpenSSH, when the nodes' users cannot run ours: a
                                     small virtual environment (``interpreter``)

Stdlib only: the fakes import this module under ``python -S`` to start fast.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows every fake command
if TYPE_CHECKING:
    from typing import Any

# Environment variables the SSH server sets for every command (and fakes rely on).
ENV_ROOT = "SIM_ROOT"
ENV_NODE = "SIM_NODE"


class NodePaths:
    """The on-disk places of one simulated Spark. (A plain class, not a dataclass: importing
    dataclasses costs every fake command ~10 ms.)"""

    __slots__ = ("name", "root")

    def __init__(self, root: Path, name: str) -> None:
        self.root, self.name = root, name

    def __repr__(self) -> str:
        return f"NodePaths({str(self.root)!r}, {self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NodePaths) and (self.root, self.name) == (other.root, other.name)

    def __hash__(self) -> int:
        return hash((self.root, self.name))

    @property
    def dir(self) -> Path:
        return self.root / self.name

    @property
    def home(self) -> Path:
        return self.dir / "home"

    @property
    def bin(self) -> Path:
        return self.dir / "bin"

    @property
    def state(self) -> Path:
        return self.dir / "state"

    @property
    def containers(self) -> Path:
        return self.state / "containers"

    @property
    def hidden(self) -> Path:
        """Where ``model_missing`` parks a repo's cache directory until the fault is cleared."""
        return self.state / "hidden"

    @property
    def gpu_state(self) -> Path:
        return self.state / "gpu.json"

    @property
    def vllm_state(self) -> Path:
        return self.state / "vllm.json"

    @property
    def faults(self) -> Path:
        return self.dir / "faults.json"

    @property
    def commands_log(self) -> Path:
        return self.dir / "commands.log"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def hf_hub(self) -> Path:
        return self.home / ".cache" / "huggingface" / "hub"

    @property
    def launch_dir(self) -> Path:
        return self.home / "spark-vllm-docker"

    def container_record(self, container: str) -> Path:
        return self.containers / f"{container}.json"

    def container_log(self, container: str) -> Path:
        return self.containers / f"{container}.log"

    def engine_pid(self, container: str) -> Path:
        """The pid (and process group) of the container's engine wrapper, written by it."""
        return self.containers / f"{container}.engine-pid"

    def engine_exit(self, container: str) -> Path:
        """``{pid, exit_code, exited_at}`` once the container's engine process has exited."""
        return self.containers / f"{container}.exit"


class SimPaths:
    """The on-disk places shared by the whole simulated cluster."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"SimPaths({str(self.root)!r})"

    @property
    def settings(self) -> Path:
        return self.root / "sim.json"

    @property
    def cluster(self) -> Path:
        return self.root / "cluster.json"

    @property
    def client_key(self) -> Path:
        return self.root / "client" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def pids(self) -> Path:
        return self.root / "run" / "pids"

    def node(self, name: str) -> NodePaths:
        return NodePaths(self.root, name)


def read_json(path: Path, default: Any = None) -> Any:
    """The parsed file, or ``default`` when it is absent or (mid-write by hand) unparsable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return default


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically (temp file + rename), so a concurrent reader never sees half.

    No fsync: this is throw-away simulator state, and fsync would slow every fake command.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # pid + time make the temp name unique among concurrent writers without tempfile's cost.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sim_from_env(env: dict[str, str] | None = None) -> tuple[SimPaths, NodePaths]:
    """The cluster and this node, from the variables the SSH server sets for every command.

    Raises SystemExit(2) with a message when run outside the simulator.
    """
    env = dict(os.environ) if env is None else env
    root, node = env.get(ENV_ROOT), env.get(ENV_NODE)
    if not root or not node:
        raise SystemExit(f"sparksim: {ENV_ROOT} and {ENV_NODE} must be set (run me over sim SSH)")
    paths = SimPaths(Path(root))
    return paths, paths.node(node)


def cluster_nodes(paths: SimPaths) -> list[dict[str, Any]]:
    """The registry entries, head first: ``{name, host, ssh_port, home}``."""
    data = read_json(paths.cluster, {}) or {}
    return list(data.get("nodes", []))


def node_by_host(paths: SimPaths, host: str) -> dict[str, Any] | None:
    """The registry entry whose host (or name, as a hostname would be) is ``host``."""
    for entry in cluster_nodes(paths):
        if host in (entry["host"], entry["name"]):
            return entry
    return None


def node_by_peer_address(paths: SimPaths, address: str) -> tuple[dict[str, Any] | None, bool]:
    """The registry entry another Spark reaches at ``address`` and whether it can.

    A node with a cluster-link address is reached there only (its SSH host is not on the
    link: ``(entry, False)``); a node without one, at its host or name. ``(None, False)`` for
    an address no node has."""
    for entry in cluster_nodes(paths):
        link = entry.get("cluster_address")
        if link:
            if address == link:
                return entry, True
            if address in (entry["host"], entry["name"]):
                return entry, False
        elif address in (entry["host"], entry["name"]):
            return entry, True
    return None, False


DEFAULT_SETTINGS: dict[str, float] = {"load_time": 3.0, "token_rate": 50.0}


def read_vllm_cmd(paths: SimPaths) -> str:
    """The command that replaces ``vllm`` in a launched ``vllm serve`` ("" = the fake)."""
    data = read_json(paths.settings, {}) or {}
    return str(data.get("vllm_cmd") or "")


def read_settings(paths: SimPaths) -> dict[str, float]:
    """``{load_time, token_rate}`` from ``sim.json``, defaults for anything missing."""
    data = read_json(paths.settings, {}) or {}
    return {key: float(data.get(key, default)) for key, default in DEFAULT_SETTINGS.items()}
