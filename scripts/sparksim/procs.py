"""Processes the simulator starts: liveness, process-group termination, detached spawns.

Two kinds of process exist. Commands run by a node's SSH server each get their own process
group (the server terminates the group when the client goes away). Processes that must outlive
the SSH session (the fake vLLM, a ``docker logs`` that a daemonised launch leaves behind) are
spawned *detached* with :func:`spawn_detached`: a new session, output to a log file, and a pid
file under ``<root>/run/pids`` so :func:`sweep` can stop them when the simulator stops.

Zombies count as dead everywhere here: in some containers PID 1 never reaps orphans, and a
zombie still answers ``kill(pid, 0)``.

Stdlib only (imported by fakes under ``python -S``).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from scripts.sparksim.layout import ENV_ROOT

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows every fake command
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# How long a process group gets between SIGTERM and SIGKILL.
TERM_GRACE_S = 2.0
POLL_S = 0.02


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None (gone / no procfs)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return text[text.rfind(")") + 2 :].split()


def alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return not Path("/proc/self").exists()  # no procfs: trust kill(0)
    return fields[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    if not Path("/proc/self").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields and fields[0] not in ("Z", "X") and fields[2] == str(pgid):
                members.append(int(entry.name))
    return members


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to the group; a group that is already gone is not an error."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def terminate_group_sync(pgid: int, grace: float = TERM_GRACE_S) -> None:
    """SIGTERM the group, wait up to ``grace`` seconds for it to empty, then SIGKILL it.
    Blocks the calling thread (fakes are short-lived CLI programs)."""
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if group_members(pgid):
        signal_group(pgid, signal.SIGKILL)


def spawn_detached(
    argv: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path, pid_dir: Path
) -> int:
    """Start ``argv`` in a new session (so it survives the SSH command that started it), stdin
    from /dev/null and stdout+stderr appended to ``log``; register its pid in ``pid_dir``.
    Returns the pid (which is also its process group id)."""
    import subprocess  # only the launch script spawns; other fakes skip the import cost

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    pid_dir.mkdir(parents=True, exist_ok=True)
    (pid_dir / str(proc.pid)).touch()
    # We never wait() for a detached process (whoever inherits it reaps it). Marking it as
    # reaped stops Popen.__del__ from warning about it or keeping it on its zombie list.
    proc.returncode = 0
    return proc.pid


def _sim_processes(root: Path) -> list[int]:
    """Every live process whose environment says it belongs to the simulator at ``root``
    (the SSH server sets ``SIM_ROOT`` for every command; children inherit it)."""
    marker = f"{ENV_ROOT}={root}".encode()
    found = []
    if not Path("/proc/self").exists():
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def sweep(root: Path, pid_dir: Path, grace: float = TERM_GRACE_S) -> list[int]:
    """Stop every process the simulator at ``root`` left running: the registered detached
    pids' groups and (on Linux) any process carrying ``SIM_ROOT=<root>``. SIGTERM, then
    SIGKILL after ``grace`` seconds. Blocks; returns the pids it signalled."""
    pids: set[int] = set()
    if pid_dir.is_dir():
        pids.update(int(p.name) for p in pid_dir.iterdir() if p.name.isdigit())
    targets = {pid for pid in pids if alive(pid)} | set(_sim_processes(root))
    for pid in targets:
        signal_group(pid, signal.SIGTERM)  # detached pids lead their own group
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in targets) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    for pid in targets:
        if alive(pid):
            signal_group(pid, signal.SIGKILL)
            _kill(pid, signal.SIGKILL)
    for pid in pids:
        (pid_dir / str(pid)).unlink(missing_ok=True)
    return sorted(targets)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_gone(pids: Iterable[int], timeout: float) -> bool:
    """Poll until none of ``pids`` is alive or ``timeout`` passes; True when all are gone."""
    pending = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        pending = [pid for pid in pending if alive(pid)]
        if not pending or time.monotonic() >= deadline:
            return not pending
        time.sleep(POLL_S)
