"""SSH to the Sparks: the only module that imports asyncssh.

:class:`SshTransport` is the interface the rest of the app uses (like httpx's transports, so a
fake is first-class); :class:`AsyncsshTransport` is the real one.

Contract of the real transport:
* Authentication with the appliance's key file only: no agent, no ``~/.ssh/config``, no
  password prompts. Host keys are pinned on first use (:class:`~app.cluster.keys.KnownHosts`);
  a changed host key is refused with :class:`HostKeyChanged` naming the Spark.
* One connection per Spark, reused by every command, reconnected on the next command after a
  loss. At most ``max_channels`` commands run at once per Spark (OpenSSH's MaxSessions is 10).
* Every command has a timeout. On timeout or cancellation the remote process is sent a
  terminate signal and its channel is closed before the error (or cancellation) propagates.
* Errors are :class:`SshError` subclasses whose message is a sentence naming the Spark; they never
  include key material.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

import asyncssh
import msgspec

from app.cluster.keys import KnownHosts, ensure_client_key
from app.config import Spark

log = logging.getLogger("spark_control.ssh")

CONNECT_TIMEOUT_S = 10.0
# OpenSSH allows 10 sessions per connection (MaxSessions): commands and log streams share them.
MAX_CHANNELS = 5
MAX_STREAMS = 4


class CommandResult(msgspec.Struct, frozen=True):
    node: str
    command: str
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def tail(self, lines: int = 5) -> str:
        """The last lines of stderr (or stdout when stderr is empty), for error sentences."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return " | ".join(line.strip() for line in text[-lines:])


class SshError(Exception):
    """A Spark could not be reached or a command could not complete."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


class Unreachable(SshError):
    """The connection could not be made (refused, timed out, authentication failed)."""


class HostKeyChanged(Unreachable):
    """The Spark presented a different host key than the one pinned on first use."""


class ConnectionLost(SshError):
    """The connection dropped while a command ran; its outcome is unknown."""


class CommandTimeout(SshError):
    """The command ran past its timeout and was terminated."""


class SshTransport(Protocol):
    """What the app needs from SSH. Commands are shell strings built by ``commands.render``."""

    async def run(
        self,
        node: str,
        command: str,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        """Run ``command`` on ``node`` and wait for it; raises :class:`SshError`."""
        ...

    def stream(
        self, node: str, command: str, *, env: Mapping[str, str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[str]]:
        """Run ``command`` and iterate its output lines (stdout and stderr merged) until it
        ends; leaving the context terminates the remote process."""
        ...

    async def close(self) -> None: ...


class _Client(asyncssh.SSHClient):
    """Trust-on-first-use: with no key pinned for this Spark, accept the presented one and
    remember it so the transport can pin it once the handshake is complete."""

    def __init__(self, transport: AsyncsshTransport, node: str, pinned: bool) -> None:
        self._transport = transport
        self._node = node
        self._pinned = pinned
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        if self._pinned:
            return False  # only the pinned key (in the trusted list) may pass
        self.presented = key
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport._forget(self._node)


class AsyncsshTransport:
    def __init__(
        self,
        sparks: Sequence[Spark],
        *,
        key_file: str,
        known_hosts: str,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        max_channels: int = MAX_CHANNELS,
        keepalive_s: float = 15.0,
    ) -> None:
        self._sparks = {spark.name: spark for spark in sparks}
        self._key_file = key_file
        self.known_hosts = KnownHosts(known_hosts)
        self._connect_timeout = connect_timeout
        self._keepalive_s = keepalive_s
        self._connections: dict[str, asyncssh.SSHClientConnection] = {}
        self._connecting: dict[str, asyncio.Lock] = {name: asyncio.Lock() for name in self._sparks}
        self._channels = {name: asyncio.Semaphore(max_channels) for name in self._sparks}
        self._streams = {name: asyncio.Semaphore(MAX_STREAMS) for name in self._sparks}
        self._client_key: asyncssh.SSHKey | None = None
        self._closed = False
        # Our processes whose channel has not finished closing (the leak check counts them),
        # and the tasks that wait for the channels an error path closed without waiting.
        self._live: set[asyncssh.SSHClientProcess[str]] = set()
        self._close_watchers: set[asyncio.Task[None]] = set()

    def _spark(self, node: str) -> Spark:
        try:
            return self._sparks[node]
        except KeyError:
            raise SshError(node, f"No Spark named {node!r} is configured.") from None

    @property
    def closing(self) -> bool:
        """close() has been called (read again after every await: it may run meanwhile)."""
        return self._closed

    def _forget(self, node: str) -> None:
        self._connections.pop(node, None)

    def open_channels(self) -> int:
        """How many of our command channels have not finished closing, over all Sparks (for
        leak checks)."""
        return len(self._live)

    def _closed_later(self, process: asyncssh.SSHClientProcess[str]) -> None:
        """``process`` was terminated without waiting: count it open until its channel has
        closed (the transport's ``close`` stops the wait)."""

        async def wait() -> None:
            with contextlib.suppress(Exception):
                await process.wait_closed()
            self._live.discard(process)

        watcher = asyncio.get_running_loop().create_task(wait(), name="ssh-channel-close")
        self._close_watchers.add(watcher)
        watcher.add_done_callback(self._close_watchers.discard)

    async def _connection(self, node: str) -> asyncssh.SSHClientConnection:
        spark = self._spark(node)
        async with self._connecting[node]:
            conn = self._connections.get(node)
            if conn is not None and not conn.is_closed():
                return conn
            if self._closed:
                raise Unreachable(node, "Spark Control is shutting down.")
            if self._client_key is None:
                ensure_client_key(self._key_file)
                self._client_key = asyncssh.read_private_key(self._key_file)
            pinned = self.known_hosts.keys_for(spark.host, spark.ssh_port)
            client = _Client(self, node, bool(pinned))
            where = f"{node} ({spark.host}:{spark.ssh_port})"
            try:
                async with asyncio.timeout(self._connect_timeout):
                    conn, _ = await asyncssh.create_connection(
                        lambda: client,
                        spark.host,
                        spark.ssh_port,
                        username=spark.ssh_user,
                        client_keys=[self._client_key],
                        known_hosts=(pinned, [], []),
                        server_host_key_algs=sorted({k.get_algorithm() for k in pinned})
                        if pinned
                        else "default",
                        agent_path=None,
                        config=None,
                        password=None,
                        kbdint_auth=False,
                        gss_auth=False,
                        keepalive_interval=self._keepalive_s,
                        keepalive_count_max=3,
                    )
            except TimeoutError:
                raise Unreachable(
                    node, f"{where} did not answer SSH within {self._connect_timeout:.0f} s."
                ) from None
            except asyncssh.HostKeyNotVerifiable:
                raise HostKeyChanged(
                    node,
                    f"{where} presented a different SSH host key than the one pinned on first use; "
                    "if the Spark was reinstalled, run the 'Forget a Spark's host key' action.",
                ) from None
            except asyncssh.PermissionDenied:
                raise Unreachable(
                    node,
                    f"{where} refused the appliance's SSH key for user {spark.ssh_user!r}; "
                    "add the key from 'Show SSH public key' to that user's authorized_keys.",
                ) from None
            except (OSError, asyncssh.Error) as err:
                raise Unreachable(
                    node, f"{where} is unreachable over SSH: {_reason(err)}."
                ) from None
            if self.closing:  # close() ran during the handshake and could not see this one
                conn.close()
                raise Unreachable(node, "Spark Control is shutting down.")
            if client.presented is not None:
                self.known_hosts.pin(spark.host, spark.ssh_port, client.presented)
                log.info("pinned the SSH host key of %s on first use", where)
            self._connections[node] = conn
            return conn

    async def run(
        self,
        node: str,
        command: str,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        async with self._channels[self._spark(node).name]:
            conn = await self._connection(node)
            process = await self._open(conn, node, command, env)
            try:
                async with asyncio.timeout(timeout):
                    stdout, stderr = await process.communicate(stdin)  # waits for the close
                self._live.discard(process)
            except TimeoutError:
                self._terminate(process)
                raise CommandTimeout(
                    node, f"{node}: the command did not finish within {timeout:g} s."
                ) from None
            except asyncio.CancelledError:
                self._terminate(process)
                raise
            except (OSError, asyncssh.Error) as err:
                self._terminate(process)
                self._forget(node)
                raise ConnectionLost(
                    node, f"{node}: the SSH connection was lost ({_reason(err)})."
                ) from None
            if process.exit_status is None:
                self._forget(node)
                raise ConnectionLost(
                    node, f"{node}: the SSH connection was lost while the command ran."
                )
            return CommandResult(
                node=node,
                command=command,
                exit_status=process.exit_status,
                stdout=str(stdout or ""),
                stderr=str(stderr or ""),
            )

    async def _open(
        self,
        conn: asyncssh.SSHClientConnection,
        node: str,
        command: str,
        env: Mapping[str, str] | None,
    ) -> asyncssh.SSHClientProcess[str]:
        try:
            async with asyncio.timeout(self._connect_timeout):
                process = await conn.create_process(
                    command, env=dict(env or {}), encoding="utf-8", errors="replace"
                )
        except TimeoutError:
            self._forget(node)
            raise ConnectionLost(
                node, f"{node}: could not open an SSH channel within {self._connect_timeout:.0f} s."
            ) from None
        except (OSError, asyncssh.Error) as err:
            self._forget(node)
            raise ConnectionLost(
                node, f"{node}: could not open an SSH channel ({_reason(err)})."
            ) from None
        self._live.add(process)
        return process

    @contextlib.asynccontextmanager
    async def stream(
        self, node: str, command: str, *, env: Mapping[str, str] | None = None
    ) -> AsyncIterator[AsyncIterator[str]]:
        semaphore = self._streams[self._spark(node).name]
        if semaphore.locked():
            raise SshError(node, f"{node}: too many log streams are open; close one and retry.")
        async with semaphore:
            conn = await self._connection(node)
            try:
                async with asyncio.timeout(self._connect_timeout):
                    process = await conn.create_process(
                        command,
                        env=dict(env or {}),
                        encoding="utf-8",
                        errors="replace",
                        stderr=asyncssh.STDOUT,
                    )
            except (TimeoutError, OSError, asyncssh.Error) as err:
                self._forget(node)
                raise ConnectionLost(
                    node, f"{node}: could not open an SSH channel ({_reason(err)})."
                ) from None
            self._live.add(process)

            async def lines() -> AsyncIterator[str]:
                try:
                    async for line in process.stdout:
                        yield line.rstrip("\r\n")
                except (OSError, asyncssh.Error) as err:
                    raise ConnectionLost(
                        node, f"{node}: the SSH connection was lost ({_reason(err)})."
                    ) from None

            try:
                yield lines()
            finally:
                _terminate(process)
                try:
                    async with asyncio.timeout(2):
                        await process.wait_closed()
                except Exception:  # not closed in time: count it until it is
                    self._closed_later(process)
                except asyncio.CancelledError:
                    self._closed_later(process)
                    raise
                else:
                    self._live.discard(process)

    def _terminate(self, process: asyncssh.SSHClientProcess[str]) -> None:
        _terminate(process)
        self._closed_later(process)

    async def close(self) -> None:
        self._closed = True
        for watcher in list(self._close_watchers):
            watcher.cancel()
        connections = list(self._connections.values())
        self._connections.clear()
        for conn in connections:
            conn.close()
        for conn in connections:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await conn.wait_closed()


def _terminate(process: asyncssh.SSHClientProcess[str]) -> None:
    """Ask the remote side to stop the process, then close our end of the channel."""
    with contextlib.suppress(Exception):
        process.terminate()
    with contextlib.suppress(Exception):
        process.close()


def _reason(err: BaseException) -> str:
    """A short, key-free reason: the asyncssh reason text or the OS error string."""
    if isinstance(err, asyncssh.Error):
        return err.reason or type(err).__name__
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err) or type(err).__name__
