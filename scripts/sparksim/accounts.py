"""Login accounts for simulated Sparks under OpenSSH: one user per node, one shared group.

A real Spark logs the controller in as an ordinary user whose HOME holds the launch script and
the Hugging Face cache; with OpenSSH the simulator needs the same, so as root it creates them.
The nodes' users share a group because the simulated cluster shares one directory tree (the
head's launch script writes the workers' container records, as the real one does over SSH).

Contract (root only; blocking):

* :func:`create` makes group ``group`` and, per entry, a system user with that primary group,
  the given HOME (not created here) and login shell, and the password field ``*``: no password
  can match it, yet sshd (without PAM) does not take it for a locked account as it does
  useradd's default ``!``. Undoes what it made and raises :class:`AccountError` on failure.
* :func:`remove` kills every process of the group's users, deletes those users and the group.
  Idempotent; a group that does not exist is not an error.
* :func:`share` gives a tree to a user and the group: owner ``uid``, group ``gid``, group
  read/write, setgid directories (so what the users create inherits the group).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import signal
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

from scripts.sparksim import procs

_TIMEOUT_S = 30.0


class AccountError(OSError):
    """A user or group could not be created or removed."""


def _run(*argv: str) -> None:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise AccountError(f"{argv[0]}: {err}") from None
    if done.returncode != 0:
        raise AccountError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")


def create(group: str, users: Mapping[str, tuple[Path, Path]]) -> dict[str, pwd.struct_passwd]:
    """Create ``group`` and ``users`` (``{name: (home, shell)}``); returns their passwd
    entries. Raises AccountError."""
    _run("groupadd", "--system", group)
    try:
        for name, (home, shell) in users.items():
            _run(
                "useradd", "--system", "--no-create-home", "--gid", group,
                "--home-dir", str(home), "--shell", str(shell), "--password", "*",
                "--comment", f"simulated Spark {name}", name,
            )  # fmt: skip
        return {name: pwd.getpwnam(name) for name in users}
    except BaseException:
        remove(group)
        raise


def members(group: str) -> list[pwd.struct_passwd]:
    """Users whose primary group is ``group`` ([] when it does not exist)."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return []
    return [entry for entry in pwd.getpwall() if entry.pw_gid == gid]


def remove(group: str) -> None:
    """Kill the group's users' processes, delete the users, then the group. Raises
    AccountError when userdel / groupdel fail for another reason than absence."""
    users = members(group)
    uids = {entry.pw_uid for entry in users}
    pids = _processes_of(uids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    procs.wait_gone(pids, 5.0)
    for entry in users:
        _run("userdel", entry.pw_name)
    with contextlib.suppress(KeyError):
        grp.getgrnam(group)
        _run("groupdel", group)


def _processes_of(uids: set[int]) -> list[int]:
    """Live processes owned by any of ``uids``."""
    if not uids:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid in uids and procs.alive(int(entry.name)):
                    found.append(int(entry.name))
    return found


def share(tree: Path, uid: int, gid: int) -> None:
    """Give ``tree`` (a file or a directory, recursively) to ``uid`` and group ``gid`` with
    group read/write; directories also get setgid. Symbolic links are re-owned, not followed
    (the Hugging Face cache is full of them)."""
    tree = Path(tree)
    if not tree.exists():
        return
    _own(tree, uid, gid)
    if not tree.is_dir() or tree.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in dirnames + filenames:
            _own(Path(dirpath, name), uid, gid)


def _own(path: Path, uid: int, gid: int) -> None:
    os.lchown(path, uid, gid)
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return
    extra = stat.S_IRGRP | stat.S_IWGRP
    if stat.S_ISDIR(mode):
        extra |= stat.S_IXGRP | stat.S_ISGID
    os.chmod(path, stat.S_IMODE(mode) | extra)
