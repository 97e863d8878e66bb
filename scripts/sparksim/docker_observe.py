"""``docker logs`` and ``docker top`` for the fake docker: what a container printed and what
runs in it.

``logs [-f] [--tail N|-n N] NAME`` prints the container's log (its last N lines); ``-f``
follows until the container stops or the process is killed. ``top NAME`` lists the
container's processes: ``sleep infinity``, then the head's engine while it lives. Errors use
docker's wording. Stdlib only (run from ``fake_docker`` under ``python -S``).
"""

from __future__ import annotations

import shlex
import sys
import time

from scripts.sparksim import containers, procs
from scripts.sparksim.cliparse import UsageError, parse
from scripts.sparksim.layout import NodePaths

_FOLLOW_POLL_S = 0.05


def running_record(node: NodePaths, name: str) -> dict | None:
    """Container ``name``'s record when it runs; else docker's error on stderr and None (the
    command then exits 1, as ``docker top`` / ``docker exec`` do)."""
    record = containers.load(node, name)
    if record is None:
        _err(f"Error response from daemon: No such container: {name}")
        return None
    if not containers.is_running(record):
        _err(f"Error response from daemon: container {record['id']} is not running")
        return None
    return record


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def cmd_logs(node: NodePaths, args: list[str]) -> int:
    opts, names = parse(
        args,
        valued={"-n": "tail", "--tail": "tail", "--since": "since", "--until": "until"},
        boolean={
            "-f": "follow",
            "--follow": "follow",
            "-t": "timestamps",
            "--timestamps": "timestamps",
            "--details": "details",
        },
    )
    if len(names) != 1:
        raise UsageError('"docker logs" requires exactly 1 argument.')
    name = names[0]
    if containers.load(node, name) is None:
        _err(f"Error response from daemon: No such container: {name}")
        return 1
    tail = opts.get("tail", ["all"])[-1]
    out = sys.stdout.buffer
    try:
        log = open(node.container_log(name), "rb")
    except FileNotFoundError:
        return 0
    with log:
        lines = log.read().splitlines(keepends=True)
        if tail != "all":
            count = max(0, int(tail)) if tail.lstrip("-").isdigit() else len(lines)
            lines = lines[len(lines) - count :] if count else []
        out.write(b"".join(lines))
        out.flush()
        if not opts.get("follow"):
            return 0
        # Follow: print what is appended until the container stops (docker's behaviour) or we
        # are killed. An open handle keeps reading even after ``docker rm`` unlinks the file.
        while True:
            chunk = log.read()
            if chunk:
                out.write(chunk)
                out.flush()
            elif not containers.is_running(containers.load(node, name)):
                return 0
            else:
                time.sleep(_FOLLOW_POLL_S)


def cmd_top(node: NodePaths, args: list[str]) -> int:
    """``docker top NAME``: ``ps -ef`` of the container. The container idles on ``sleep
    infinity`` (as spark-vllm-docker starts it); the head's engine and its children are listed
    while they live, the engine's wrapper as the ``bash -c`` that ``docker exec -d`` runs."""
    if not args:
        raise UsageError('"docker top" requires at least 1 argument.')
    name = args[0]
    record = running_record(node, name)
    if record is None:
        return 1
    started = time.strftime("%H:%M", time.localtime(record["created"]))
    rows = [("1", "0", "sleep infinity")]
    leader = (record.get("vllm") or {}).get("pid") or containers.engine_pid_of(node, name)
    if leader:
        for pid in sorted(procs.group_members(int(leader))):
            if pid == int(leader):
                command = f"bash -c {shlex.join(record['command'])} >> /proc/1/fd/1 2>&1"
            else:
                command = _cmdline(pid)
            rows.append((str(pid), str(leader), command))
    print(
        "UID                 PID                 PPID                C                   STIME               TTY                 TIME                CMD"
    )
    for pid, ppid, command in rows:
        print(
            f"root                {pid:<20}{ppid:<20}0                   {started:<20}?                   00:00:00            {command}"
        )
    return 0


def _cmdline(pid: int) -> str:
    """A process's command line as ps shows it; the fake vLLM as the real CLI would appear."""
    try:
        raw = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if "scripts.sparksim.fake_vllm" in words:
        at = words.index("scripts.sparksim.fake_vllm")
        words = ["python3", "/usr/local/bin/vllm", *words[at + 1 :]]
    return " ".join(words)
