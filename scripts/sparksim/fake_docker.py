"""The fake ``docker`` on a simulated Spark's PATH.

Subcommands (and ``docker container <sub>`` / ``docker image <sub>`` spellings):

* ``ps [-a] [-q] [--no-trunc] [-f name=RE|status=S|ancestor=IMG|id=ID]… [--format FMT]``
* ``stop [-t N] NAME…`` / ``rm [-f] NAME…`` (honour ``slow_stop``; stopping kills the engine)
* ``logs [-f] [--tail N|-n N] [-t] NAME``: ``-f`` follows until the container stops or the
  process is killed (the SSH server kills it when the client goes away; see ``docker_observe``)
* ``image inspect [-f FMT] IMAGE…`` / ``images [-q] [REPO]``: every image is present unless
  the ``image_missing`` fault says otherwise
* ``run [--rm] [--name N] [-v …] [-e …] [--entrypoint E] IMAGE CMD…`` (see ``docker_run``)
* ``top NAME``: the container's processes (``sleep infinity``, then the head's engine; see
  ``docker_observe``)
* ``inspect [-f FMT] NAME|IMAGE…``, ``exec [-i] [-t] [-e K=V] NAME CMD…`` (runs CMD on the
  node itself), ``version``, ``--version``, ``info``

Errors use docker's wording and exit codes (1 for daemon errors, 125 for usage).
Stdlib only: started as ``python -S -m scripts.sparksim.fake_docker``.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime

from scripts.sparksim import containers
from scripts.sparksim.cliparse import UsageError, format_rows, parse
from scripts.sparksim.docker_inspect import cmd_image_inspect, cmd_images, cmd_inspect
from scripts.sparksim.docker_observe import cmd_logs, cmd_top, running_record
from scripts.sparksim.docker_run import cmd_run
from scripts.sparksim.layout import NodePaths, sim_from_env

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows every fake command
if TYPE_CHECKING:
    from typing import Any

_HEADERS = {
    "ID": "CONTAINER ID",
    "RunningFor": "CREATED",
    "CreatedAt": "CREATED AT",
    "Repository": "REPOSITORY",
}


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _row(record: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    """The fields ``docker ps --format`` knows, for one container record."""
    command = " ".join(record["command"])
    if not no_trunc and len(command) > 20:
        command = command[:19] + "…"
    return {
        "ID": record["id"],
        "Image": record["image"],
        "Command": f'"{command}"',
        "CreatedAt": _iso(record["created"]),
        "RunningFor": containers.running_for(record),
        "Ports": "",
        "State": record["status"],
        "Status": containers.status_text(record),
        "Size": "0B",
        "Names": record["name"],
        "Labels": "",
        "Mounts": ",".join(m["source"] for m in record.get("mounts", [])),
        "Networks": "host",
    }


def _matches(record: dict[str, Any], filters: list[str]) -> bool:
    """Docker filter semantics: same key ORs, different keys AND; ``name`` is an unanchored
    regex tried against the name with and without docker's leading slash."""
    by_key: dict[str, list[str]] = {}
    for item in filters:
        key, _, value = item.partition("=")
        by_key.setdefault(key, []).append(value)
    tests = {
        "name": lambda v: bool(re.search(v, record["name"]) or re.search(v, "/" + record["name"])),
        "status": lambda v: record["status"] == v,
        "id": lambda v: record["id"].startswith(v),
        "ancestor": lambda v: record["image"].split(":")[0] == v.split(":")[0],
    }
    for key, values in by_key.items():
        if key not in tests:
            raise UsageError(f"invalid filter '{key}'")
        if not any(tests[key](v) for v in values):
            return False
    return True


def cmd_ps(node: NodePaths, args: list[str]) -> int:
    opts, _ = parse(
        args,
        valued={
            "-f": "filter",
            "--filter": "filter",
            "--format": "format",
            "-n": "last",
            "--last": "last",
        },
        boolean={
            "-a": "all",
            "--all": "all",
            "-q": "quiet",
            "--quiet": "quiet",
            "--no-trunc": "no_trunc",
            "-s": "size",
            "--size": "size",
            "-l": "latest",
            "--latest": "latest",
        },
    )
    records = [
        r for r in containers.all_records(node) if opts.get("all") or containers.is_running(r)
    ]
    records = [r for r in records if _matches(r, opts.get("filter", []))]
    rows = [_row(r, bool(opts.get("no_trunc"))) for r in reversed(records)]  # newest first
    if opts.get("quiet"):
        lines = [row["ID"] for row in rows]
    else:
        fmt = opts.get(
            "format",
            [
                "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t"
                "{{.Status}}\t{{.Ports}}\t{{.Names}}"
            ],
        )[-1]
        lines = format_rows(fmt, rows, lambda f: _HEADERS.get(f, f.upper()))
    for line in lines:
        print(line)
    return 0


def cmd_stop(node: NodePaths, args: list[str]) -> int:
    _, names = parse(
        args, valued={"-t": "time", "--time": "time", "-s": "signal", "--signal": "signal"}
    )
    status = 0
    for name in names:
        if containers.stop(node, name):
            print(name)
        else:
            _err(f"Error response from daemon: No such container: {name}")
            status = 1
    return status


def cmd_rm(node: NodePaths, args: list[str]) -> int:
    opts, names = parse(
        args,
        boolean={
            "-f": "force",
            "--force": "force",
            "-v": "volumes",
            "--volumes": "volumes",
            "-l": "link",
            "--link": "link",
        },
    )
    status = 0
    for name in names:
        record = containers.load(node, name)
        if record is None:
            _err(f"Error response from daemon: No such container: {name}")
            if not opts.get("force"):  # docker 23+: with -f a missing container is no failure
                status = 1
        elif containers.is_running(record) and not opts.get("force"):
            _err(
                f'Error response from daemon: cannot remove container "/{name}": container is '
                "running: stop the container before removing or force remove"
            )
            status = 1
        else:
            containers.stop(node, name)
            containers.remove(node, name)
            print(name)
    return status


def cmd_exec(node: NodePaths, args: list[str]) -> int:
    opts, rest = parse(
        args,
        valued={
            "-e": "env",
            "--env": "env",
            "-w": "workdir",
            "--workdir": "workdir",
            "-u": "user",
            "--user": "user",
        },
        boolean={
            "-i": "interactive",
            "--interactive": "interactive",
            "-t": "tty",
            "--tty": "tty",
            "-d": "detach",
            "--detach": "detach",
            "--privileged": "privileged",
        },
        stop_at_positional=True,
    )
    if len(rest) < 2:
        raise UsageError('"docker exec" requires at least 2 arguments.')
    name, command = rest[0], rest[1:]
    record = running_record(node, name)
    if record is None:
        return 1
    env = {**os.environ, **record["env"]}
    env.update(item.partition("=")[::2] for item in opts.get("env", []))
    if "workdir" in opts:
        os.chdir(opts["workdir"][-1])
    sys.stdout.flush()
    try:
        os.execvpe(command[0], command, env)  # noqa: S606 - runs what the caller asked for
    except OSError:
        _err(
            "OCI runtime exec failed: exec failed: unable to start container process: exec: "
            f'"{command[0]}": executable file not found in $PATH: unknown'
        )
        return 127


def cmd_version(node: NodePaths, args: list[str]) -> int:
    print(
        "Client: Docker Engine - Community\n Version:           28.3.0 (sparksim)\n"
        " OS/Arch:           linux/arm64\n\nServer: Docker Engine - Community\n Engine:\n"
        "  Version:          28.3.0 (sparksim)"
    )
    return 0


def cmd_info(node: NodePaths, args: list[str]) -> int:
    running = len(containers.running_names(node))
    print(
        f"Containers: {len(containers.all_records(node))}\n Running: {running}\n"
        "Server Version: 28.3.0 (sparksim)\nArchitecture: aarch64\nRuntimes: nvidia runc\n"
        f"Name: {node.name}"
    )
    return 0


_COMMANDS = {
    "ps": cmd_ps,
    "stop": cmd_stop,
    "rm": cmd_rm,
    "logs": cmd_logs,
    "images": cmd_images,
    "inspect": cmd_inspect,
    "exec": cmd_exec,
    "run": cmd_run,
    "top": cmd_top,
    "version": cmd_version,
    "info": cmd_info,
}
_CONTAINER_SUBS = {
    "ls": "ps",
    "list": "ps",
    "ps": "ps",
    "stop": "stop",
    "rm": "rm",
    "logs": "logs",
    "inspect": "inspect",
    "exec": "exec",
    "run": "run",
    "top": "top",
}


def main(argv: list[str] | None = None) -> int:
    """Run one docker command; returns its exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["--version"], ["-v"]):
        print("Docker version 28.3.0, build sparksim")
        return 0
    _, node = sim_from_env()
    if not args:
        print("Usage:  docker [OPTIONS] COMMAND")
        return 0
    command, rest = args[0], args[1:]
    if command == "container" and rest and rest[0] in _CONTAINER_SUBS:
        command, rest = _CONTAINER_SUBS[rest[0]], rest[1:]
    elif command == "image" and rest[:1] == ["inspect"]:
        return _run(cmd_image_inspect, node, rest[1:])
    elif command == "image" and rest[:1] in (["ls"], ["list"]):
        command, rest = "images", rest[1:]
    handler = _COMMANDS.get(command)
    if handler is None:
        _err(f"docker: '{command}' is not a docker command.\nSee 'docker --help'")
        return 1
    return _run(handler, node, rest)


def _run(handler: Any, node: NodePaths, args: list[str]) -> int:
    try:
        return handler(node, args)
    except UsageError as err:
        _err(f"{err}\nSee 'docker --help'.")
        return 125
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
