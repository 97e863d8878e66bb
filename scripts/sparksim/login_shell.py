"""The shell of a simulated Spark's user under OpenSSH: records each command, then runs it.

OpenSSH never calls back into the simulator, so command strings are recorded where sshd hands
them over. ``openssh_server`` writes a per-node executable that calls :func:`main`; sshd
starts it in one of two ways:

* as the user's **login shell** (users the simulator created): ``<shell> -c <command>``, or no
  argument for a shell request. sshd delivers the client's signal requests to the session's
  process group, so a controller that terminates a remote command reaches all of it.
* as **ForceCommand** (the invoking user's own account, whose login shell we cannot set): the
  command is in ``SSH_ORIGINAL_COMMAND``. sshd refuses signal requests to forced commands, so
  in this mode a command outlives its closed channel until it next writes.

Either way it then: sets umask 002 (the nodes' users share a group and write each other's
state, as the launch script does for workers); enters ``$HOME`` (a forced command starts in the
real user's home); appends the command to the node's ``commands.log`` (``command_log``; the node
comes from ``SIM_ROOT`` / ``SIM_NODE``, which sshd's ``SetEnv`` provides); and execs
``/bin/sh -c <command>`` (``/bin/sh`` for a shell request) in its own process, keeping the pid
and process group that sshd signals.

Stdlib only: runs under ``python -S`` for every SSH command.
"""

from __future__ import annotations

import os
import sys

from scripts.sparksim.command_log import append
from scripts.sparksim.layout import sim_from_env

SHELL = "/bin/sh"


def command_of(argv: list[str], env: dict[str, str]) -> str | None:
    """The command string sshd asked for, or None for a shell request."""
    if len(argv) >= 3 and argv[1] == "-c":
        return argv[2]
    return env.get("SSH_ORIGINAL_COMMAND")


def main(argv: list[str] | None = None) -> None:
    """Record and exec; never returns (exits 127 when ``/bin/sh`` cannot be started)."""
    argv = sys.argv if argv is None else argv
    env = dict(os.environ)
    command = command_of(argv, env)
    os.umask(0o002)
    try:
        os.chdir(env.get("HOME", "/"))
    except OSError:
        os.chdir("/")
    env.pop("SSH_ORIGINAL_COMMAND", None)  # as without ForceCommand: the command can't see it
    if command is not None:
        _, node = sim_from_env(env)
        append(node.commands_log, command)
    args = [SHELL, "-c", command] if command is not None else [SHELL]
    try:
        os.execve(SHELL, args, env)  # noqa: S606  # being the shell is this module's job
    except OSError as err:
        print(f"sparksim login shell: cannot run {SHELL}: {err.strerror}", file=sys.stderr)
        os._exit(127)
