"""The fake ``docker run`` reports the container's own exit status, whenever it reads it.

The container's shell records the status in a file. Read between that file's creation and its
write, an empty file once passed for a killed container (137): under load, an ``hf download``
that had succeeded (and printed its ``path:``) failed the download with that line as its error.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts.sparksim.docker_run import _follow
from scripts.sparksim.layout import NodePaths

# A writer that opens the status file, pauses, then writes 0: the window the reader must wait out.
SLOW_WRITER = ': > "$1"; sleep 0.3; echo 0 > "$1"'


def _node(tmp_path: Path) -> NodePaths:
    node = NodePaths(tmp_path, "spark1")
    node.containers.mkdir(parents=True)
    return node


def test_a_status_file_still_being_written_is_waited_for(tmp_path: Path) -> None:
    node = _node(tmp_path)
    exit_file, log = node.containers / "c.exit", node.container_log("c")
    log.write_bytes(b"Downloaded\npath: /cache/snapshots/abc\n")
    writer = subprocess.Popen(["/bin/sh", "-c", SLOW_WRITER, "sh", str(exit_file)])
    try:
        assert _follow(node, "c", writer.pid, log, exit_file) == 0
    finally:
        writer.wait(timeout=10)


def test_a_container_gone_without_a_status_counts_as_killed(tmp_path: Path) -> None:
    node = _node(tmp_path)
    exit_file, log = node.containers / "c.exit", node.container_log("c")
    log.write_bytes(b"")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    assert _follow(node, "c", gone.pid, log, exit_file) == 137


def test_the_status_written_is_the_status_reported(tmp_path: Path) -> None:
    node = _node(tmp_path)
    exit_file, log = node.containers / "c.exit", node.container_log("c")
    log.write_bytes(b"")
    exit_file.write_text("3\n")
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=10)
    assert _follow(node, "c", done.pid, log, exit_file) == 3
