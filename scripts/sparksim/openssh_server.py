"""One simulated Spark served by Debian's OpenSSH ``sshd`` instead of the asyncssh server.

Contract of :class:`OpenSSHServer` (the interface of ``sshd.NodeSSHServer``: ``start``,
``close``, ``wait_closed``, ``stop``):

* ``await start(port=0) -> port`` writes the node's sshd files under ``<node>/sshd/``
  (``sshd_config``, ``authorized_keys`` holding the client key, the recording ``shell``,
  ``sshd.log``) and runs ``sshd -D -e -f sshd_config`` through ``launcher`` (``ip netns exec``
  for a node in a namespace), as ``account`` when one is given. Port 0 means ``default_port``
  when set (22: a namespace's address belongs to its node alone), else a free port. Returns
  once sshd logs that it listens; raises OSError with the end of sshd's log when it exits
  first or does not listen within 10 s.
* sshd accepts only public-key authentication of ``user`` with the client key (no password,
  keyboard-interactive or PAM), only ``HF_TOKEN`` from the client's environment, and gives every
  session the node's environment (``SetEnv``: PATH with the fakes first, SIM_ROOT, SIM_NODE…).
  Everything else is Debian's defaults (MaxSessions 10, no ``StrictModes`` check: the nodes'
  trees are group-writable).
* Commands are recorded by the node's shell (``login_shell``), into ``commands.log``; the
  ``on_command`` argument exists for interface compatibility and is not called.
* :meth:`close` SIGTERMs sshd (the listener and every per-connection process) and the process
  group of every command its sessions run; :meth:`wait_closed` waits for them, SIGKILLing
  what is left after the grace period. Processes that left the command's process group (the
  engine, detached by the launch script) stay, for the simulator's sweep, as with the asyncssh
  server. Both idempotent; :meth:`start` may follow to serve again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import asyncssh

from scripts.sparksim import accounts, procs
from scripts.sparksim.layout import NodePaths
from scripts.sparksim.sshd import terminate_group

START_TIMEOUT_S = 10.0
_ACCEPT_ENV = ("HF_TOKEN",)
_SESSION_OWN = ("USER", "LOGNAME")  # sshd sets these to the real login user
_UNSAFE = set(' \t\n\r"\\%#')  # would need quoting in sshd_config (or trigger its % tokens)


def check_path(path: str | Path) -> str:
    """``path`` as text when sshd_config can hold it verbatim; raises ValueError."""
    text = str(path)
    if not text.startswith("/") or _UNSAFE & set(text):
        raise ValueError(f"{text!r} cannot be used in an sshd_config (use a plain path)")
    return text


def render_config(
    *,
    host: str,
    port: int,
    host_key: Path,
    authorized_keys: Path,
    user: str,
    env: Mapping[str, str],
    forced: Path | None,
) -> str:
    """The text of one node's ``sshd_config``."""
    setenv = " ".join(
        f'"{name}={check_value(value)}"' for name, value in env.items() if name not in _SESSION_OWN
    )
    lines = [
        "# One simulated Spark (scripts/sparksim/openssh_server.py); rewritten at every start.",
        f"ListenAddress {host}:{port}",
        f"HostKey {check_path(host_key)}",
        "PidFile none",
        f"AllowUsers {user}",
        f"AuthorizedKeysFile {check_path(authorized_keys)}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PermitRootLogin no",
        # The nodes' homes are group-writable (their users share the cluster's tree).
        "StrictModes no",
        "AllowAgentForwarding no",
        "AllowTcpForwarding no",
        "X11Forwarding no",
        "PrintMotd no",
        "PrintLastLog no",
        f"AcceptEnv {' '.join(_ACCEPT_ENV)}",
        f"SetEnv {setenv}",
    ]
    if forced is not None:
        # The login user's shell is not ours to set: record through a forced command instead.
        lines.append(f"ForceCommand {check_path(forced)}")
    return "\n".join(lines) + "\n"


def check_value(value: str) -> str:
    if set('"\\\n\r') & set(value):
        raise ValueError(f"{value!r} cannot be passed through sshd_config's SetEnv")
    return value


def shell_script(python: str, repo: Path, node: str) -> str:
    """The node's recording shell: a Python script calling ``login_shell.main``."""
    return (
        f"#!{check_path(python)} -S\n"
        f"# Shell of the simulated Spark {node} under OpenSSH: see scripts/sparksim/login_shell.py\n"
        "import sys\n\n"
        f"sys.path.insert(0, {str(repo)!r})\n"
        "from scripts.sparksim.login_shell import main\n\n"
        "main()\n"
    )


def shell_path(node: NodePaths) -> Path:
    """Where the node's recording shell is (the login shell of its created user)."""
    return node.dir / "sshd" / "shell"


def find_sshd() -> str | None:
    """Absolute path of ``sshd`` (it re-executes itself, so it must be absolute), or None."""
    for directory in ("/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"):
        candidate = Path(directory, "sshd")
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


class OpenSSHServer:
    """The sshd of one node (see the module docstring for the contract)."""

    def __init__(
        self,
        *,
        node: NodePaths,
        host: str,
        user: str,
        host_key: asyncssh.SSHKey,
        client_key: asyncssh.SSHKey,
        env: Mapping[str, str],
        on_command: Callable[[str], None] | None = None,
        python: str,
        repo: Path,
        launcher: Sequence[str] = (),
        account: tuple[int, int] | None = None,
        forced: bool = False,
        default_port: int = 0,
    ) -> None:
        self.node, self.host, self.user = node, host, user
        self._client_key = client_key
        self._env = dict(env)
        self._python, self._repo = python, repo
        self._launcher, self._account = list(launcher), account
        self._forced, self._default_port = forced, default_port
        self._proc: asyncio.subprocess.Process | None = None
        self._closing: list[tuple[asyncio.subprocess.Process, list[int], list[int]]] = []
        self.port = 0
        self.dir = shell_path(node).parent
        self.log = self.dir / "sshd.log"

    # --- files ------------------------------------------------------------------------------

    def _write_files(self, port: int) -> Path:
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        authorized = self.dir / "authorized_keys"
        authorized.write_bytes(self._client_key.export_public_key())
        shell = shell_path(self.node)
        shell.write_text(shell_script(self._python, self._repo, self.node.name))
        for path, mode in ((authorized, 0o644), (shell, 0o755)):
            path.chmod(mode)
        config = self.dir / "sshd_config"
        config.write_text(
            render_config(
                host=self.host,
                port=port,
                host_key=self.node.host_key,
                authorized_keys=authorized,
                user=self.user,
                env=self._env,
                forced=shell if self._forced else None,
            )
        )
        self.node.commands_log.touch()
        if self._account is not None:
            uid, gid = self._account
            # The node's user owns its home and state; the group (every node's user) may
            # write them too: the head's launch script writes the workers' records.
            for tree in (self.node.home, self.node.state, self.node.commands_log):
                accounts.share(tree, uid, gid)
            if not self._launcher:  # sshd runs as the user: its host key must be the user's
                os.chown(self.node.host_key, uid, gid)
        return config

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self, port: int = 0) -> int:
        """Run sshd; returns its port. Raises OSError (see the module docstring)."""
        if self._proc is not None:
            return self.port
        chosen = port or self._default_port
        tries = 1 if chosen else 3
        while True:
            listen_port = chosen or free_port(self.host)
            try:
                await self._spawn(listen_port)
            except _PortTaken:
                tries -= 1
                if not tries:
                    raise OSError(f"{self.node.name}: port {listen_port} is taken") from None
                continue  # a free port we picked was taken before sshd bound it: pick again
            self.port = listen_port
            return listen_port

    async def _spawn(self, port: int) -> None:
        sshd = find_sshd()
        if sshd is None:
            raise OSError("sshd not found: install openssh-server")
        config = await asyncio.to_thread(self._write_files, port)
        offset = self.log.stat().st_size if self.log.exists() else 0
        user: dict[str, object] = {}
        if self._account is not None and not self._launcher:
            uid, gid = self._account  # a non-root sshd can only log its own user in
            user = {"user": uid, "group": gid, "extra_groups": []}
        log = await asyncio.to_thread(open, self.log, "ab")
        with log:  # sshd gets its own copy of the descriptor
            proc = await asyncio.create_subprocess_exec(
                *self._launcher, sshd, "-D", "-e", "-f", str(config),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, **user,
            )  # fmt: skip
        ready = f"Server listening on {self.host} port {port}."
        deadline = time.monotonic() + START_TIMEOUT_S
        # Polling the log: sshd tells no one else that it listens.
        while ready not in (text := self._log_since(offset)):
            if proc.returncode is not None or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                if "Address already in use" in text:
                    raise _PortTaken
                tail = " | ".join(text.strip().splitlines()[-3:]) or "no output"
                raise OSError(f"{self.node.name}: sshd did not start on {self.host}:{port}: {tail}")
            await asyncio.sleep(procs.POLL_S)
        self._proc = proc

    def _log_since(self, offset: int) -> str:
        with open(self.log, "rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    async def stop(self) -> None:
        """:meth:`close`, then :meth:`wait_closed`."""
        self.close()
        await self.wait_closed()

    def close(self) -> None:
        """SIGTERM sshd and the process groups of the commands it runs (see above)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        table = _process_table()
        tree = _descendants(table, proc.pid)
        daemons = [proc.pid] + [pid for pid in tree if table[pid][0] == "sshd"]
        # A command is what an sshd process started as a session (and process group) leader:
        # signalling its group reaches the whole command, as sshd's own signal requests do.
        commands = [
            pid
            for pid in tree
            if table[pid][0] != "sshd" and table[pid][2] == pid and table[pid][1] in daemons
        ]
        for pid in daemons:
            _kill(pid, signal.SIGTERM)
        for pgid in commands:
            procs.signal_group(pgid, signal.SIGTERM)
        self._closing.append((proc, daemons, commands))

    async def wait_closed(self, timeout: float = procs.TERM_GRACE_S) -> None:
        """Wait until what :meth:`close` signalled is gone, SIGKILLing it after ``timeout``."""
        while self._closing:
            proc, daemons, commands = self._closing.pop()
            await asyncio.gather(*(terminate_group(pgid, timeout) for pgid in commands))
            deadline = time.monotonic() + timeout
            # Polling: sshd's per-connection processes are not our children.
            while any(procs.alive(p) for p in daemons) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(procs.POLL_S)
            for pid in daemons:
                if procs.alive(pid):
                    _kill(pid, signal.SIGKILL)
            await proc.wait()


class _PortTaken(Exception):
    pass


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def free_port(host: str) -> int:
    """A TCP port free on ``host`` right now (in the calling thread's network namespace)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _process_table() -> dict[int, tuple[str, int, int]]:
    """``{pid: (command name, parent pid, process group)}`` of every live process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        fields = text[text.rfind(")") + 2 :].split()
        if fields[0] not in ("Z", "X"):
            table[int(entry.name)] = (name, int(fields[1]), int(fields[2]))
    return table


def _descendants(table: dict[int, tuple[str, int, int]], root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, pending = [], list(children.get(root, []))
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found
