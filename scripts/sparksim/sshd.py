"""SSH hosting of one simulated Spark: an asyncssh server that runs command strings in /bin/sh.

Contract of :class:`NodeSSHServer`:

* Listens on its node's own address (port 0 = any free port), with its own ed25519 host key.
  Public-key authentication only, for one user name and one client key.
* Every exec request runs ``/bin/sh -c <command string>`` (a shell request runs ``/bin/sh``)
  in a new process group, in the node's HOME, with the node's environment (HOME, PATH with the
  fakes first, SIM_ROOT, SIM_NODE, …) plus any variable the client sent (env requests are all
  accepted, like ``AcceptEnv *``; the node's own variables win on conflict). stdin is forwarded,
  stdout / stderr and the exit status (or signal) are relayed.
* Every command string is handed to ``on_command`` before it runs (recording, in order).
* When the client closes the channel or the connection goes away while the command runs, the
  whole process group is terminated: SIGTERM, then SIGKILL after 2 s. (So ``docker logs -f``
  stops with its client; anything meant to outlive the session must start its own session,
  as the launch script does for the engine.) A command that exits normally leaves its
  background children alone, like sshd.
* ``slow_link`` (see ``faults``): a matching command's stdin is fed at most ``bps`` bytes/s.
* ``ssh_drop`` (see ``faults``): ``after_s`` after a matching command starts, its process
  group is SIGKILLed and the connection aborted; its exit status is never sent.
* :meth:`NodeSSHServer.stop` closes the listener and every connection and waits until every
  command it started has been terminated. Idempotent.

Other hosting (e.g. a real OpenSSH daemon) can replace this class: the simulator only needs
``start() -> port``, ``stop()`` and the ``on_command`` callback.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import asyncssh

from scripts.sparksim import faults
from scripts.sparksim.layout import NodePaths
from scripts.sparksim.procs import POLL_S, TERM_GRACE_S, group_members, signal_group

_READ_SIZE = 65536
_SIGNALS = {
    "TERM": signal.SIGTERM,
    "INT": signal.SIGINT,
    "KILL": signal.SIGKILL,
    "HUP": signal.SIGHUP,
    "QUIT": signal.SIGQUIT,
    "USR1": signal.SIGUSR1,
    "USR2": signal.SIGUSR2,
}


async def terminate_group(pgid: int, grace: float = TERM_GRACE_S) -> None:
    """SIGTERM process group ``pgid``, SIGKILL it if still populated after ``grace`` s."""
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    # Polling: no event tells us when processes other than our own children exit.
    while group_members(pgid) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(POLL_S)
    if group_members(pgid):
        signal_group(pgid, signal.SIGKILL)


class NodeSSHServer:
    """The SSH server of one node (see the module docstring for the contract)."""

    def __init__(
        self,
        *,
        node: NodePaths,
        host: str,
        user: str,
        host_key: asyncssh.SSHKey,
        client_key: asyncssh.SSHKey,
        env: Mapping[str, str],
        on_command: Callable[[str], None],
    ) -> None:
        self.node, self.host, self.user = node, host, user
        self._host_key, self._client_key = host_key, client_key
        self._env, self._on_command = dict(env), on_command
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._conns: set[asyncssh.SSHServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, port: int = 0) -> int:
        """Listen; returns the bound port. Raises OSError when the address cannot be bound."""
        self._acceptor = await asyncssh.create_server(
            lambda: _ConnectionHandler(self),
            self.host,
            port,
            server_host_keys=[self._host_key],
            encoding=None,
            # No banner, no agent / port / X11 forwarding: a plain command runner.
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            keepalive_interval=0,
        )
        self.port = self._acceptor.get_port()
        return self.port

    async def stop(self) -> None:
        """:meth:`close`, then :meth:`wait_closed`."""
        self.close()
        await self.wait_closed()

    def close(self) -> None:
        """Stop listening and abort every connection; their commands start terminating."""
        if self._acceptor is not None:
            self._acceptor.close()
            self._acceptor = None
        for conn in list(self._conns):
            conn.abort()

    async def wait_closed(self, timeout: float = TERM_GRACE_S + 3.0) -> None:
        """Wait until every command has been terminated and relayed. A command whose output
        pipe is held open by an escaped process cannot finish on its own: after ``timeout``
        its relay is cancelled (the simulator's sweep kills such processes anyway)."""
        deadline = time.monotonic() + timeout
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for task in list(self._tasks):
                    task.cancel()
            await asyncio.wait(list(self._tasks), timeout=max(remaining, 0.5))

    def _track(self, coro) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class _ConnectionHandler(asyncssh.SSHServer):
    """Per-connection callbacks: authentication and session creation."""

    def __init__(self, owner: NodeSSHServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._owner._conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._owner._conns.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return (
            username == self._owner.user and key.public_data == self._owner._client_key.public_data
        )

    def session_requested(self) -> asyncssh.SSHServerSession:
        assert self._conn is not None
        return _CommandSession(self._owner, self._conn)


class _CommandSession(asyncssh.SSHServerSession):
    """One channel: runs one command in its own process group and relays its I/O."""

    def __init__(self, owner: NodeSSHServer, conn: asyncssh.SSHServerConnection) -> None:
        self._owner, self._conn = owner, conn
        self._chan: asyncssh.SSHServerChannel | None = None
        self._command: str | None = None
        self._stdin: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._proc: asyncio.subprocess.Process | None = None
        self._open = True  # the channel is open on our side
        self._exited = False  # the command finished on its own
        self._dropping: asyncio.TimerHandle | None = None

    # --- channel requests -------------------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self._chan = chan

    def pty_requested(self, *args: object) -> bool:
        return False  # commands run without a terminal, like `ssh host cmd` without -t

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return False

    def session_started(self) -> None:
        self._owner._track(self._run())

    def data_received(self, data: bytes, datatype: object) -> None:
        self._stdin.put_nowait(data)

    def eof_received(self) -> bool:
        self._stdin.put_nowait(None)
        return True  # keep our side open: output may still follow

    def signal_received(self, signal_name: str) -> None:
        if self._proc is not None and signal_name in _SIGNALS:
            signal_group(self._proc.pid, _SIGNALS[signal_name])

    def connection_lost(self, exc: Exception | None) -> None:
        self._open = False
        self._stdin.put_nowait(None)
        if self._proc is not None and not self._exited:
            # The client went away mid-command: the whole group goes with it.
            self._owner._track(terminate_group(self._proc.pid, TERM_GRACE_S))

    # --- running the command ----------------------------------------------------------------

    async def _run(self) -> None:
        assert self._chan is not None
        command = self._command
        if command is not None:
            self._owner._on_command(command)
        # The node's variables win over what the client sent (PATH must reach the fakes).
        env = {**self._chan.get_environment(), **self._owner._env}
        argv = ["/bin/sh", "-c", command] if command is not None else ["/bin/sh"]
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=Path(self._owner._env.get("HOME", "/")),
                env=env,
                start_new_session=True,
            )
        except OSError as err:
            self._write(f"sh: {err.strerror}\n".encode(), stderr=True)
            self._send_exit(127)
            return
        drop_after = faults.consume_ssh_drop(self._owner.node, command) if command else None
        if drop_after is not None:
            self._dropping = asyncio.get_running_loop().call_later(drop_after, self._drop)
        if not self._open:  # the client left while we were starting
            self._owner._track(terminate_group(self._proc.pid, TERM_GRACE_S))
        rate = faults.link_rate(self._owner.node, command) if command else None
        feeder = asyncio.create_task(self._feed_stdin(self._proc, rate))
        try:
            await asyncio.gather(
                self._relay(self._proc.stdout, stderr=False),
                self._relay(self._proc.stderr, stderr=True),
            )
            returncode = await self._proc.wait()
        except asyncio.CancelledError:
            # Given up on (see wait_closed): close our pipe ends, or the transport would be
            # left open (and warn) for as long as some escaped process holds the other ends.
            transport = getattr(self._proc, "_transport", None)
            if transport is not None:
                transport.close()
            raise
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
        self._exited = True
        if self._dropping is not None and not self._dropping.cancelled():
            return  # the drop will abort the connection: the client never sees the status
        self._send_exit(returncode)

    def _drop(self) -> None:
        """The ``ssh_drop`` fault: kill the command and cut the connection."""
        self._dropping = None
        if self._proc is not None:
            signal_group(self._proc.pid, signal.SIGKILL)
        self._conn.abort()

    async def _relay(self, stream: asyncio.StreamReader | None, *, stderr: bool) -> None:
        """Copy a pipe to the channel until EOF (discarding once the channel is closed, so the
        command never blocks on a full pipe while it is being terminated)."""
        assert stream is not None
        while chunk := await stream.read(_READ_SIZE):
            self._write(chunk, stderr=stderr)

    async def _feed_stdin(self, proc: asyncio.subprocess.Process, rate: float | None) -> None:
        """Copy the client's data to the command's stdin (at most ``rate`` bytes a second
        under the ``slow_link`` fault) until EOF."""
        assert proc.stdin is not None
        try:
            while (data := await self._stdin.get()) is not None:
                proc.stdin.write(data)
                await proc.stdin.drain()
                if rate:  # pacing the simulated link, not synchronisation
                    await asyncio.sleep(len(data) / rate)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            proc.stdin.close()

    def _write(self, data: bytes, *, stderr: bool) -> None:
        if not self._open or self._chan is None:
            return
        try:
            self._chan.write(data, asyncssh.EXTENDED_DATA_STDERR if stderr else None)
        except OSError:
            self._open = False

    def _send_exit(self, returncode: int) -> None:
        if not self._open or self._chan is None:
            return
        try:
            if returncode < 0:
                name = signal.Signals(-returncode).name.removeprefix("SIG")
                self._chan.exit_with_signal(name)
            else:
                self._chan.exit(returncode)
        except OSError:
            pass
