"""A connect cancelled mid-handshake (a swap's cancel, the connect timeout) closes its socket
at once; it must not wait for the garbage collector (which warns about the leak)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.cluster.ssh import AsyncsshTransport, Unreachable
from app.config import Spark


class SilentSshServer:
    """Accepts TCP and never speaks SSH: the client's handshake waits forever. ``accepted``
    is set when a client connects, ``client_closed`` when it has closed its end."""

    def __init__(self) -> None:
        self.accepted = asyncio.Event()
        self.client_closed = asyncio.Event()

    async def on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.set()
        while await reader.read(4096):
            pass  # the client's version line, then EOF once it closes
        self.client_closed.set()
        writer.close()


def _transport(tmp_path: Path, port: int, connect_timeout: float) -> AsyncsshTransport:
    spark = Spark(name="spark1", host="127.0.0.1", ssh_port=port)
    return AsyncsshTransport(
        [spark],
        key_file=str(tmp_path / "id_ed25519"),
        known_hosts=str(tmp_path / "known_hosts"),
        connect_timeout=connect_timeout,
    )


async def test_a_cancelled_connect_closes_its_socket(tmp_path: Path) -> None:
    silent = SilentSshServer()
    server = await asyncio.start_server(silent.on_client, "127.0.0.1", 0)
    transport = _transport(tmp_path, server.sockets[0].getsockname()[1], connect_timeout=30)
    async with server:
        task = asyncio.ensure_future(transport.run("spark1", "true", timeout=30))
        await silent.accepted.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(5):
            await silent.client_closed.wait()
        await transport.close()


async def test_a_connect_timeout_closes_its_socket(tmp_path: Path) -> None:
    silent = SilentSshServer()
    server = await asyncio.start_server(silent.on_client, "127.0.0.1", 0)
    transport = _transport(tmp_path, server.sockets[0].getsockname()[1], connect_timeout=0.5)
    async with server:
        with pytest.raises(Unreachable, match="did not answer SSH"):
            await transport.run("spark1", "true", timeout=30)
        async with asyncio.timeout(5):
            await silent.client_closed.wait()
        await transport.close()


class _FakeConnection:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def is_closed(self) -> bool:
        return self.closed


async def test_a_connect_that_completes_after_close_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handshake still in flight when the transport closes (a probe at shutdown) is closed
    when it completes, instead of being kept where close() can no longer see it."""
    entered, release = asyncio.Event(), asyncio.Event()
    made: list[_FakeConnection] = []

    async def slow_handshake(*_args: object, **_kwargs: object) -> tuple[_FakeConnection, None]:
        entered.set()
        await release.wait()
        made.append(_FakeConnection())
        return made[-1], None

    monkeypatch.setattr("app.cluster.ssh.asyncssh.create_connection", slow_handshake)
    transport = _transport(tmp_path, 22, connect_timeout=30)
    pending = asyncio.ensure_future(transport.run("spark1", "true", timeout=30))
    await entered.wait()
    await transport.close()
    release.set()
    with pytest.raises(Unreachable, match="shutting down"):
        await pending
    assert made and made[0].closed
