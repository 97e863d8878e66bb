"""Can Spark Control write the files it keeps on its data volume?

The app writes its SSH key pair, the pinned host keys and the model and service overrides at
run time, each atomically (a temporary file in the same directory, then a rename). On StartOS
these live on the data volume, which actions and restores write as root; when the app (an
unprivileged user) cannot write there, the failure would otherwise surface only as a
``PermissionError`` in the log at the first swap. :func:`check_writable` says so up front, one
sentence per path, for ``/api/status`` and the StartOS "Data volume" health check.

Only permission bits and ownership are consulted (``os.access``): no file is created, so the
check is cheap enough to run on every status request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import msgspec


class DataVolume(msgspec.Struct, frozen=True):
    """``writable`` is true when every file the app writes can be written; ``problems`` has one
    sentence per path that cannot."""

    writable: bool
    problems: list[str]


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _owner_note(path: Path) -> str:
    try:
        owner = path.stat().st_uid
    except OSError:
        return ""
    return f" (it belongs to uid {owner}; Spark Control runs as uid {os.getuid()})"


def path_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the app cannot (re)write the file at ``path`` atomically, or None when it can."""
    target = Path(path)
    if target.is_dir():
        return f"{target} is a directory, not a file"
    directory = _nearest_existing(target.parent)
    if not directory.is_dir():
        return f"cannot create {target}: {directory} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"cannot write {target}: no write permission on {directory}{_owner_note(directory)}"
    if target.exists() and not os.access(target, os.R_OK):
        return f"cannot read {target}{_owner_note(target)}"
    return None


def check_writable(paths: Iterable[str | os.PathLike[str]]) -> DataVolume:
    """Check every path (duplicates and blanks ignored) and collect the problems."""
    problems: list[str] = []
    seen: set[str] = set()
    for path in paths:
        text = os.fspath(path)
        if not text or text in seen:
            continue
        seen.add(text)
        problem = path_problem(text)
        if problem is not None:
            problems.append(problem)
    return DataVolume(writable=not problems, problems=problems)
