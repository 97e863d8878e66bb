"""Fault injection: what can go wrong on a simulated Spark, and how each fault is stored.

Faults are per node, kept in ``<root>/<node>/faults.json`` as ``{fault: params}``. The fakes
read that file at the moment the fault matters, so a fault set between two commands applies to
the second one. Set them with ``SparkSim.inject(node, fault, **params)`` (which validates and
fills defaults) or by writing the file. ``SparkSim.clear_faults(node=None)`` removes them.

``launch_fail``        ``exit_code`` (default 1). ``launch-cluster.sh … exec`` prints an error
                       naming the node and exits with ``exit_code`` before starting anything.
                       Applies when set on any node of the ``-n`` list.
``never_healthy``      The fake vLLM loads its weights but never listens (connections are
                       refused forever, as with a real vLLM stuck starting). Applies when set on any node of the launched cluster (a
                       tensor-parallel engine is only as healthy as its weakest rank) at the
                       moment loading finishes, so it can be set while the model loads.
``crash_after_ready``  ``seconds`` (default 1.0). That long after turning healthy the fake
                       vLLM's engine core dies (EngineDeadError in the log, /health 503), and
                       the process exits 1.5 s later; the container records stay "running",
                       as spark-vllm-docker's container outlives vLLM. Any node of the cluster; read,
                       like ``never_healthy``, when loading finishes.
``ssh_drop``           ``match`` (default ``"launch-cluster.sh"``), ``after_s`` (default 0.2),
                       ``times`` (default 1). ``after_s`` after this node's SSH server starts a
                       command whose string contains ``match``, it kills that command's process
                       group and aborts the whole SSH connection; the client never receives the
                       exit status. Used up after ``times`` matching commands.
``slow_stop``          ``seconds`` (default 5.0). Stopping the container on this node (docker
                       stop / rm -f / launch-cluster.sh stop) takes that much longer.
``gpu_residual``       ``seconds`` (default 5.0). After the container on this node stops,
                       nvidia-smi keeps reporting the loaded memory figure for that long (GB10
                       frees unified memory lazily).
``model_missing``      ``repo`` (required, e.g. ``"Qwen/Qwen3-32B"``). That repo's directory is
                       moved out of this node's HF cache until cleared, so weight checks fail
                       and the fake vLLM cannot load it. Injecting again adds another repo.
``image_missing``      ``image`` (default ``""`` = every image). ``docker image inspect`` exits
                       1 "No such image", and launch-cluster.sh refuses to start.
``image_lacks``        ``command`` (default ``"hf"``). The images on this node have no such
                       program: ``docker run`` of it fails as a real engine does (exit 127,
                       ``exec: "hf": executable file not found in $PATH``), as with a vLLM
                       image whose huggingface_hub predates the ``hf`` CLI.
``disk_full``          ``repo`` (required), ``mib`` (default 4). A ``mib`` MiB tmpfs is mounted
                       over that repo's (not yet existing) cache directory on this node, so the
                       real ``hf``/``rsync`` writing there get ENOSPC from the kernel once it is
                       full (see ``diskfull``; needs root). Injecting again resizes it, keeping
                       its files ("space was freed"); clearing copies the files back and
                       unmounts; the simulator's stop unmounts whatever is left.
``slow_link``          ``match`` (default ``"rsync --server"``), ``bps`` (default 1048576.0).
                       This node's SSH server feeds a matching command's standard input at
                       most ``bps`` bytes a second, as a slow link to the node would (rsync
                       pushing to it then takes size / ``bps`` seconds). Read when the command
                       starts.

Stdlib only (imported by fakes under ``python -S``).
"""

from __future__ import annotations

from scripts.sparksim.layout import NodePaths, read_json, write_json

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows every fake command
if TYPE_CHECKING:
    from typing import Any

_REQUIRED = object()

# fault -> {param: default}; _REQUIRED marks a parameter without a default.
FAULTS: dict[str, dict[str, Any]] = {
    "launch_fail": {"exit_code": 1},
    "never_healthy": {},
    "crash_after_ready": {"seconds": 1.0},
    "ssh_drop": {"match": "launch-cluster.sh", "after_s": 0.2, "times": 1},
    "slow_stop": {"seconds": 5.0},
    "gpu_residual": {"seconds": 5.0},
    "model_missing": {"repo": _REQUIRED},
    "image_missing": {"image": ""},
    "image_lacks": {"command": "hf"},
    "disk_full": {"repo": _REQUIRED, "mib": 4},
    "slow_link": {"match": "rsync --server", "bps": 1048576.0},
}


def validate(fault: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with defaults filled in. Raises ValueError for an unknown fault or parameter,
    a missing required parameter, or a value of the wrong type."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
    spec = FAULTS[fault]
    unknown = set(params) - set(spec)
    if unknown:
        raise ValueError(f"fault {fault!r} takes no parameter {sorted(unknown)[0]!r}")
    result: dict[str, Any] = {}
    for name, default in spec.items():
        if name not in params:
            if default is _REQUIRED:
                raise ValueError(f"fault {fault!r} needs parameter {name!r}")
            result[name] = default
            continue
        value = params[name]
        expected = str if default is _REQUIRED else type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ValueError(f"fault {fault!r}: {name} must be {expected.__name__}")
        result[name] = value
    return result


def read(node: NodePaths) -> dict[str, dict[str, Any]]:
    """Every fault active on ``node``: ``{fault: params}`` (``{}`` when none)."""
    data = read_json(node.faults, {})
    return data if isinstance(data, dict) else {}


def get(node: NodePaths, fault: str) -> dict[str, Any] | None:
    """The params of ``fault`` on ``node``, or None when it is not set."""
    return read(node).get(fault)


def first(nodes: list[NodePaths], fault: str) -> tuple[NodePaths, dict[str, Any]] | None:
    """The first of ``nodes`` on which ``fault`` is set, with its params."""
    for node in nodes:
        params = get(node, fault)
        if params is not None:
            return node, params
    return None


def store(node: NodePaths, fault: str, params: dict[str, Any]) -> None:
    """Record an already validated fault. ``model_missing`` accumulates ``repos``."""
    faults = read(node)
    if fault == "model_missing":
        repos = set(faults.get(fault, {}).get("repos", []))
        repos.add(params["repo"])
        params = {"repos": sorted(repos)}
    faults[fault] = params
    write_json(node.faults, faults)


def clear(node: NodePaths) -> dict[str, dict[str, Any]]:
    """Remove every fault of ``node``; returns what was set (so effects can be undone)."""
    faults = read(node)
    node.faults.unlink(missing_ok=True)
    return faults


def consume_ssh_drop(node: NodePaths, command: str) -> float | None:
    """If an ``ssh_drop`` fault matches ``command``, use one of its ``times`` and return its
    ``after_s``; else None. Called by the node's SSH server at every exec."""
    faults = read(node)
    params = faults.get("ssh_drop")
    if params is None or params.get("match", "") not in command:
        return None
    times = int(params.get("times", 1)) - 1
    if times > 0:
        faults["ssh_drop"] = {**params, "times": times}
    else:
        del faults["ssh_drop"]
    write_json(node.faults, faults)
    return float(params.get("after_s", 0.2))


def link_rate(node: NodePaths, command: str) -> float | None:
    """The ``bps`` of a ``slow_link`` fault matching ``command``, else None. Called by the
    node's SSH server when a command starts."""
    params = get(node, "slow_link")
    if params is None or params.get("match", "") not in command:
        return None
    return float(params["bps"])
