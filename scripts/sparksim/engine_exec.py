"""``python -S -m scripts.sparksim.engine_exec EXIT_FILE PID_FILE CMD…``: runs a container's
engine.

What ``docker exec -d CONTAINER bash -c "CMD >> /proc/1/fd/1 2>&1"`` is on a real Spark: the
launch script starts this detached (its own process group, output appended to the container
log); it writes its own pid (its process group) to PID_FILE at once, so stopping the container
finds the engine even when the launch was cut off before it recorded it, as ``docker stop``
would; it runs CMD, waits for it and writes ``{pid, exit_code, exited_at}`` (``time.time()``) to
EXIT_FILE, so tests know when the engine exited and ``docker top`` stops listing it. SIGTERM
and SIGINT reach CMD through the process group; this wrapper ignores them and keeps waiting, so
the exit is recorded even for a stopped engine. Exits with CMD's status. Stdlib only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: engine_exec EXIT_FILE PID_FILE CMD…", file=sys.stderr)
        return 2
    exit_file, pid_file, command = argv[0], argv[1], argv[2:]
    _write_aside(pid_file, str(os.getpid()))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # Ignored signals stay ignored across exec: the engine gets the default ones back.
        child = subprocess.Popen(command, preexec_fn=_default_signals, close_fds=True)
    except OSError as err:
        print(f"bash: {command[0]}: {err.strerror}", flush=True)
        code, pid = 127, 0
    else:
        code, pid = child.wait(), child.pid
    record = {"pid": pid, "exit_code": code, "exited_at": time.time()}
    _write_aside(exit_file, json.dumps(record))
    return code if code >= 0 else 128 - code


def _write_aside(path: str, text: str) -> None:
    """Write ``text`` to a temp file, then rename it over ``path``: a reader (a stop looking for
    the engine's pid, a test waiting for its exit) sees the whole text or no file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def _default_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
