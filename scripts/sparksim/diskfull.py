"""The ``disk_full`` fault: a small real filesystem under one repo's HF cache directory.

A size-limited tmpfs is mounted over ``<node hf_hub>/models--…`` of the faulted repo, so
whatever writes there (the real ``hf`` CLI in the simulated ``docker run``, the real ``rsync``
receiving over SSH) gets ENOSPC from the kernel once it is full: the same error, at the same
moment, as on a Spark whose disk fills up mid-transfer. Only that repo's directory is small; the
rest of the node (and its ``df`` figure, which the controller checks before it starts) is as
before, as when something else fills the disk after the download was planned.

* :func:`mount` mounts it (``mib`` MiB), or, when already mounted, resizes it keeping its files
  ("space was freed").
* :func:`unmount` copies what the tmpfs holds back to the directory underneath and unmounts
  it, so the partial files survive the fault being cleared. Never raises for a mount that is
  already gone; a busy mount is detached lazily.

Needs root (``mount -t tmpfs``); :func:`mount` raises :class:`MountUnavailable` with the
reason otherwise. Stdlib only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from scripts.sparksim.hfcache import repo_dir_name
from scripts.sparksim.layout import NodePaths

_KEEP_SUFFIX = ".disk-full-keep"


class MountUnavailable(OSError):
    """This machine cannot mount a tmpfs (not root, or no mount permission)."""


def target(node: NodePaths, repo: str) -> Path:
    return node.hf_hub / repo_dir_name(repo)


def is_mounted(path: Path) -> bool:
    return os.path.ismount(path)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``argv``'s result; a missing or hung ``mount``/``umount`` is a failure, not a raise."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return subprocess.CompletedProcess(argv, 127, "", str(err))


def mount(node: NodePaths, repo: str, mib: int) -> None:
    """Make ``repo``'s cache directory on ``node`` a filesystem of ``mib`` MiB."""
    path = target(node, repo)
    if is_mounted(path):
        done = _run(["mount", "-o", f"remount,size={int(mib)}m", str(path)])
        if done.returncode != 0:
            raise MountUnavailable(f"cannot resize the tmpfs at {path}: {done.stderr.strip()}")
        return
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):  # the mount would hide them: a fault must not lose files
        raise ValueError(f"{path} is not empty; the disk_full fault needs a repo not yet there")
    stat = path.stat()
    options = f"size={int(mib)}m,mode=0755,uid={stat.st_uid},gid={stat.st_gid}"
    done = _run(["mount", "-t", "tmpfs", "-o", options, "sparksim-disk-full", str(path)])
    if done.returncode != 0:
        if created:
            path.rmdir()
        raise MountUnavailable(f"cannot mount a tmpfs at {path}: {done.stderr.strip()}")


def unmount(node: NodePaths, repo: str) -> None:
    """Keep the files, drop the tmpfs. Safe to call when nothing is mounted."""
    path = target(node, repo)
    if not is_mounted(path):
        return
    keep = path.with_name(path.name + _KEEP_SUFFIX)
    shutil.rmtree(keep, ignore_errors=True)
    try:
        shutil.copytree(path, keep, symlinks=True)
        kept = True
    except OSError:
        shutil.rmtree(keep, ignore_errors=True)
        kept = False
    if _run(["umount", str(path)]).returncode != 0:
        _run(["umount", "-l", str(path)])  # busy (a writer still running): detach now
    if kept:
        shutil.rmtree(path, ignore_errors=True)
        os.replace(keep, path)


def unmount_all(node: NodePaths) -> None:
    """Release every ``disk_full`` mount under ``node``'s cache (teardown; never raises)."""
    hub = node.hf_hub
    if not hub.is_dir():
        return
    for child in hub.iterdir():
        if is_mounted(child) and _run(["umount", str(child)]).returncode != 0:
            _run(["umount", "-l", str(child)])
