"""``docker run`` on a simulated Spark: a short-lived "container" that runs a real program.

``docker run [--rm] [--name N] [-v SRC:DST[:ro]]… [-e K[=V]]… [-u U] [-w DIR] [--entrypoint E]
[--network X] [--gpus X] [-i] IMAGE [CMD…]``. The vLLM image ships ``huggingface_hub``, so a
command ``hf`` runs the real ``hf`` CLI installed beside the simulator's Python; any other
command runs on the node as is. Container paths of the environment (``HF_HOME=/hf``) are
mapped through the bind mounts to the node's directories, which is where the files land.

As with real docker, the container is not the CLI: it runs detached (its own session, output to
the container log) and the CLI follows its log and exits with its status. Killing the CLI (an
SSH channel closed) leaves the container running until ``docker rm -f NAME`` (or the
simulator's stop) ends it; ``--rm`` removes the record when the container exits.

Stdlib only (run from ``fake_docker`` under ``python -S``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

from scripts.sparksim import containers, faults
from scripts.sparksim.cliparse import UsageError, parse
from scripts.sparksim.layout import ENV_NODE, ENV_ROOT, NodePaths, sim_from_env
from scripts.sparksim.procs import alive, spawn_detached

_POLL_S = 0.05
_RUN_HELP = "\n\nRun 'docker run --help' for more information\n"  # docker's tail on a failed run
_SECRET_NAMES = ("TOKEN", "SECRET", "PASSWORD", "KEY")


def _map_path(mounts: list[dict], value: str) -> str:
    """A container path as the node sees it (through the bind mounts), else unchanged."""
    record = {"mounts": mounts}
    host = containers.visible_in_container(record, value) if value.startswith("/") else None
    return str(host) if host is not None else value


def _program(command: list[str]) -> list[str]:
    if command[0] == "hf":
        hf = Path(sys.executable).parent / "hf"
        if hf.exists():
            return [str(hf), *command[1:]]
        code = "import sys; from huggingface_hub.cli.hf import main; sys.argv[0] = 'hf'; sys.exit(main())"
        return [sys.executable, "-c", code, *command[1:]]
    return command


def cmd_run(node: NodePaths, args: list[str]) -> int:
    opts, rest = parse(
        args,
        valued={
            "--name": "name",
            "-v": "volume",
            "--volume": "volume",
            "--mount": "mount",
            "-e": "env",
            "--env": "env",
            "-u": "user",
            "--user": "user",
            "-w": "workdir",
            "--workdir": "workdir",
            "--entrypoint": "entrypoint",
            "--network": "network",
            "--net": "network",
            "--gpus": "gpus",
            "--ipc": "ipc",
            "--shm-size": "shm",
        },
        boolean={
            "--rm": "rm",
            "-i": "interactive",
            "--interactive": "interactive",
            "-t": "tty",
            "--tty": "tty",
            "--init": "init",
            "--privileged": "privileged",
        },
        stop_at_positional=True,
    )
    if not rest:
        raise UsageError('"docker run" requires at least 1 argument.')
    image, command = rest[0], rest[1:]
    if "entrypoint" in opts:
        command = [opts["entrypoint"][-1], *command]
    if not command:
        raise UsageError("No command specified")
    if containers.image_missing(node, image):
        sys.stderr.write(f"Unable to find image '{image}' locally\n")
        sys.stderr.write(
            f"docker: Error response from daemon: pull access denied for {image}, repository "
            "does not exist or may require 'docker login'.\n"
        )
        return 125
    name = opts.get("name", [""])[-1] or "sim_" + hashlib.sha256(os.urandom(8)).hexdigest()[:12]
    existing = containers.load(node, name)
    if existing is not None and containers.is_running(existing):
        sys.stderr.write(
            f'docker: Error response from daemon: Conflict. The container name "/{name}" is '
            f'already in use by container "{existing["id"]}". You have to remove (or rename) '
            f"that container to be able to reuse that name.{_RUN_HELP}"
        )
        return 125
    lacking = faults.get(node, "image_lacks")
    if lacking is not None and command[0] == lacking["command"]:
        sys.stderr.write(
            "docker: Error response from daemon: failed to create shim task: OCI runtime "
            "create failed: runc create failed: unable to start container process: exec: "
            f'"{command[0]}": executable file not found in $PATH: unknown{_RUN_HELP}'
        )
        return 127
    mount_args = " ".join(f"-v {v}" for v in opts.get("volume", []))
    mount_args += " ".join(f" --mount {m}" for m in opts.get("mount", []))
    try:
        mounts = containers.parse_mounts(mount_args)
    except ValueError as err:
        raise UsageError(f"invalid argument for -v: {err}") from None
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(node.home),
        "LANG": "C.UTF-8",
        ENV_ROOT: os.environ[ENV_ROOT],
        ENV_NODE: os.environ[ENV_NODE],
    }
    for item in opts.get("env", []):
        key, sep, value = item.partition("=")
        if not sep:  # -e NAME: the value comes from the CLI's environment (docker's rule)
            if key not in os.environ:
                continue
            value = os.environ[key]
        env[key] = _map_path(mounts, value)
    paths, _ = sim_from_env()
    exit_file = node.containers / f"{name}.exit"
    exit_file.unlink(missing_ok=True)
    log = node.container_log(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    argv = [
        "/bin/sh",
        "-c",
        # Written aside, then renamed: a reader never sees the file before the status is in it.
        '"$@"; echo $? > "$SIM_CONTAINER_EXIT.tmp"; mv -f "$SIM_CONTAINER_EXIT.tmp" "$SIM_CONTAINER_EXIT"',
        "container",
        *_program(command),
    ]
    workdir = Path(_map_path(mounts, opts["workdir"][-1])) if "workdir" in opts else node.home
    pid = spawn_detached(
        argv,
        env={**env, "SIM_CONTAINER_EXIT": str(exit_file)},
        cwd=workdir,
        log=log,
        pid_dir=paths.pids,
    )
    record = {
        "name": name,
        "id": hashlib.sha256(f"{node.name}/{name}/{time.time()}".encode()).hexdigest()[:12],
        "image": image,
        "node": node.name,
        "role": "run",
        "cluster": [node.name],
        "status": "running",
        "created": time.time(),
        "command": command,
        # never record a secret's value (the record is readable by `docker inspect`)
        "env": {k: ("***" if any(s in k for s in _SECRET_NAMES) else v) for k, v in env.items()},
        "mounts": mounts,
        "extra_docker_args": mount_args.strip(),
        "auto_remove": bool(opts.get("rm")),
        "gpu_mib": 0,
        "pid": pid,
    }
    containers.save(node, record)
    return _follow(node, name, pid, log, exit_file)


def _exit_status(exit_file: Path) -> int | None:
    """The status the container's shell wrote, or None while there is none (yet)."""
    try:
        return int(exit_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _follow(node: NodePaths, name: str, pid: int, log: Path, exit_file: Path) -> int:
    """Print the container's output until it exits; its status is ours (137 when killed)."""
    out = sys.stdout.buffer
    with open(log, "rb") as handle:
        while True:
            chunk = handle.read()
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            status = _exit_status(exit_file)
            if status is not None or not alive(pid):
                out.write(handle.read())
                out.flush()
                break
            time.sleep(_POLL_S)
    if status is None:  # it may have written the status as it went
        status = _exit_status(exit_file)
    if status is None:  # gone without a status: killed
        status = 137
    record = containers.load(node, name)
    if record is not None and record.get("pid") == pid:
        if record.get("auto_remove"):
            containers.remove(node, name)
            exit_file.unlink(missing_ok=True)
        else:
            record.update(status="exited", exit_code=status, finished=time.time())
            containers.save(node, record)
    return status
