"""Atomic file replacement: write a temp file beside the target, fsync it, rename it over the
target, fsync the directory. A crash at any point leaves either the old file or the new one,
never a truncated mix. Used for everything that must survive a restart (model overrides, SSH
keys, known hosts)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically; raises OSError when the directory is not
    writable (the previous file, if any, is then untouched)."""
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), mode)
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        _replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(target.parent)


def _replace(src: str, dst: Path) -> None:
    """The commit point (a separate function so tests can simulate a crash just before it)."""
    os.replace(src, dst)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
