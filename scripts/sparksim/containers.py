"""Container records: the state behind the fake ``docker`` and ``launch-cluster.sh``.

A container is a JSON record ``<node>/state/containers/<name>.json`` plus its log file
(``<name>.log``, what ``docker logs`` prints). No real container exists: on the head the
"engine" is the fake vLLM process whose pid the record holds; on workers nothing runs.
Records the launch script creates are ``auto_remove`` (like ``docker run --rm``), so stopping
one removes it. A record stays "running" when its engine process dies (a crashed engine leaves
the container up), which is why liveness must be judged over HTTP.

Record fields: name, id, image, node, role (head|worker), cluster (node names, head first),
status (running|exited), created, command (argv), env, mounts ([{source, target, ro}]),
extra_docker_args, auto_remove, gpu_mib, and on the head ``vllm`` {pid, host, port,
served_name}.

Stdlib only (imported by fakes under ``python -S``).
"""

from __future__ import annotations

import hashlib
import shlex
import time
from pathlib import Path

from scripts.sparksim import faults
from scripts.sparksim.layout import NodePaths, read_json, write_json
from scripts.sparksim.procs import TERM_GRACE_S, terminate_group_sync

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows every fake command
if TYPE_CHECKING:
    from typing import Any

IDLE_GPU_MIB = 1500


def load(node: NodePaths, name: str) -> dict[str, Any] | None:
    """The record of container ``name`` on ``node``, or None when there is none."""
    return read_json(node.container_record(name))


def all_records(node: NodePaths) -> list[dict[str, Any]]:
    """Every container record on ``node``, oldest first."""
    records = [read_json(p) for p in sorted(node.containers.glob("*.json"))]
    return sorted((r for r in records if r), key=lambda r: r["created"])


def save(node: NodePaths, record: dict[str, Any]) -> None:
    write_json(node.container_record(record["name"]), record)


def create(
    node: NodePaths,
    *,
    name: str,
    image: str,
    role: str,
    cluster: list[str],
    command: list[str],
    env: dict[str, str],
    extra_docker_args: str,
) -> dict[str, Any]:
    """Create and save a running, auto-removed container record; truncates its log.

    Raises ValueError when ``extra_docker_args`` does not parse (bad quoting, a -v without a
    path), as docker run would refuse it.
    """
    now = time.time()
    mounts = parse_mounts(extra_docker_args)
    model_seed = hashlib.sha256(" ".join(command).encode()).digest()
    record = {
        "name": name,
        "id": hashlib.sha256(f"{node.name}/{name}/{now}".encode()).hexdigest()[:12],
        "image": image,
        "node": node.name,
        "role": role,
        "cluster": cluster,
        "status": "running",
        "created": now,
        "command": command,
        "env": env,
        "mounts": mounts,
        "extra_docker_args": extra_docker_args,
        "auto_remove": True,
        # A loaded model takes ~90 GB of the 120 GiB unified memory; vary it a little by model.
        "gpu_mib": 90000 + int.from_bytes(model_seed[:2], "big") % 6000,
    }
    save(node, record)
    node.container_log(name).write_text("")
    node.engine_exit(name).unlink(missing_ok=True)
    node.engine_pid(name).unlink(missing_ok=True)
    return record


def log(node: NodePaths, name: str, line: str) -> None:
    """Append one line to the container's log (what ``docker logs`` shows)."""
    with open(node.container_log(name), "a", encoding="utf-8") as out:
        out.write(line.rstrip("\n") + "\n")


def is_running(record: dict[str, Any] | None) -> bool:
    return bool(record) and record.get("status") == "running"


def running_names(node: NodePaths) -> list[str]:
    return [r["name"] for r in all_records(node) if is_running(r)]


def stop(node: NodePaths, name: str, *, grace: float = TERM_GRACE_S) -> bool:
    """Stop container ``name`` on ``node`` like ``docker stop``: honour ``slow_stop``, terminate
    the engine process group (SIGTERM, SIGKILL after ``grace``), note when GPU memory was
    released (for ``gpu_residual``), then remove the record (auto_remove) or mark it exited.
    Blocks. Returns False when there is no such container."""
    record = load(node, name)
    if record is None:
        return False
    slow = faults.get(node, "slow_stop")
    if slow and is_running(record):
        time.sleep(float(slow["seconds"]))
    # vLLM's engine (in the record, or in the wrapper's pid file), else the process of a
    # ``docker run`` container (a download).
    pid = (record.get("vllm") or {}).get("pid") or engine_pid_of(node, name) or record.get("pid")
    if pid:
        terminate_group_sync(int(pid), grace)
    if is_running(record) and record.get("gpu_mib"):
        write_json(node.gpu_state, {"released_at": time.time(), "released_mib": record["gpu_mib"]})
    if record.get("auto_remove"):
        remove(node, name)
    else:
        record.update(status="exited", exit_code=0, finished=time.time())
        save(node, record)
    return True


def engine_pid_of(node: NodePaths, name: str) -> int | None:
    """The engine wrapper's own record of its pid (a launch cut off mid-way may not have saved
    it in the container record)."""
    try:
        return int(node.engine_pid(name).read_text())
    except (OSError, ValueError):
        return None


def remove(node: NodePaths, name: str) -> None:
    """Delete the record and its log (``docker rm``); the caller stops it first."""
    node.container_record(name).unlink(missing_ok=True)
    node.container_log(name).unlink(missing_ok=True)
    node.engine_exit(name).unlink(missing_ok=True)
    node.engine_pid(name).unlink(missing_ok=True)


def image_missing(node: NodePaths, image: str) -> bool:
    """True when the ``image_missing`` fault hides ``image`` (or every image) on ``node``;
    otherwise every image is present."""
    fault = faults.get(node, "image_missing")
    if fault is None:
        return False
    wanted = fault.get("image", "")
    return not wanted or wanted.split(":")[0] == image.split(":")[0]


def gpu_used_mib(node: NodePaths, now: float | None = None) -> tuple[int, bool]:
    """``(memory used in MiB, model loaded?)`` as nvidia-smi on ``node`` should report it."""
    now = time.time() if now is None else now
    loaded = [r["gpu_mib"] for r in all_records(node) if is_running(r) and r.get("gpu_mib")]
    if loaded:
        return max(loaded), True
    residual = faults.get(node, "gpu_residual")
    released = read_json(node.gpu_state, {}) or {}
    if residual and now - released.get("released_at", 0.0) < float(residual["seconds"]):
        return int(released.get("released_mib", IDLE_GPU_MIB)), True
    return IDLE_GPU_MIB, False


def status_text(record: dict[str, Any], now: float | None = None) -> str:
    """Docker's STATUS column: ``Up 5 seconds`` / ``Exited (0) 2 minutes ago``."""
    now = time.time() if now is None else now
    if is_running(record):
        return f"Up {_human(now - record['created'])}"
    ago = _human(now - record.get("finished", record["created"]))
    return f"Exited ({record.get('exit_code', 0)}) {ago} ago"


def running_for(record: dict[str, Any], now: float | None = None) -> str:
    """Docker's CREATED column: ``5 seconds ago``."""
    now = time.time() if now is None else now
    return f"{_human(now - record['created'])} ago"


def _human(seconds: float) -> str:
    """Docker's ``units.HumanDuration`` wording."""
    if seconds < 1:
        return "Less than a second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    if seconds < 120:
        return "About a minute"
    if seconds < 3600:
        return f"{int(seconds // 60)} minutes"
    if seconds < 7200:
        return "About an hour"
    return f"{int(seconds // 3600)} hours"


def parse_mounts(extra_docker_args: str) -> list[dict[str, Any]]:
    """Bind mounts in docker-run arguments: ``-v SRC:DST[:ro]``, ``--volume[=]…``,
    ``--mount type=bind,source=…,target=…[,readonly]``. Other arguments are ignored.
    Raises ValueError on unbalanced quotes or an option missing its value."""
    mounts = []
    args = iter(shlex.split(extra_docker_args))
    for arg in args:
        flag, value = _split_flag(arg)
        if flag is None:
            continue
        if value is None:
            value = next(args, None)
            if value is None:
                raise ValueError(f"flag needs an argument: {flag}")
        mounts.append(_mount(flag, value))
    return mounts


def _split_flag(arg: str) -> tuple[str | None, str | None]:
    """``("-v", None)`` for a flag whose value is the next argument, ``("--mount", "…")`` for
    an attached value, ``(None, None)`` for anything that is not a mount flag."""
    if arg in ("-v", "--volume", "--mount"):
        return arg, None
    for flag in ("--volume", "--mount"):
        if arg.startswith(flag + "="):
            return flag, arg[len(flag) + 1 :]
    if arg.startswith("-v") and not arg.startswith("--"):
        return "-v", arg[2:]
    return None, None


def _mount(flag: str, value: str) -> dict[str, Any]:
    if flag == "--mount":
        fields = dict(
            part.split("=", 1) if "=" in part else (part, "true") for part in value.split(",")
        )
        source = fields.get("source") or fields.get("src", "")
        target = fields.get("target") or fields.get("destination") or fields.get("dst", "")
        readonly = fields.get("readonly", fields.get("ro", "false")) in ("true", "1")
    else:
        parts = value.split(":")
        source = parts[0]
        target = parts[1] if len(parts) > 1 else parts[0]
        readonly = len(parts) > 2 and "ro" in parts[2].split(",")
    if not source or not target:
        raise ValueError(f"invalid mount {value!r}")
    return {"source": source, "target": target, "ro": readonly}


def visible_in_container(record: dict[str, Any], path: str) -> Path | None:
    """The host path behind container path ``path`` when a bind mount covers it, else None."""
    target_path = Path(path)
    for mount in record.get("mounts", []):
        target = Path(mount["target"])
        if target_path == target or target in target_path.parents:
            return Path(mount["source"]) / target_path.relative_to(target)
    return None
