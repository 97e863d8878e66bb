"""Shutdown and noise: ``make demo`` cleans up after SIGTERM, SIGINT and SIGHUP (no simulator,
no fake vLLM, no temp directory with its private key left behind), and what is not an error is
not logged as one: a client leaving mid-body, and event streams open when the server stops."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.waits import wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes_mentioning(text: str) -> dict[int, str]:
    """Live (non-zombie) processes whose command line or working directory mentions ``text``."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except (OSError, IndexError):
            continue
        if state != "Z" and (text in cmdline or text in cwd):
            found[int(entry.name)] = cmdline
    return found


async def started(url: str, process: asyncio.subprocess.Process) -> None:
    async def up() -> bool:
        if process.returncode is not None:
            raise AssertionError(f"exited with {process.returncode}")
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{url}/api/health")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(up, "the server to answer", timeout=90)


@pytest.mark.parametrize(
    "sig",
    [
        signal.SIGTERM,
        pytest.param(signal.SIGINT, marks=pytest.mark.slow),
        pytest.param(signal.SIGHUP, marks=pytest.mark.slow),
    ],
    ids=lambda s: s.name,
)
async def test_demo_cleans_up_when_stopped_mid_swap(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    temp = tmp_path / "tmp"  # the demo's TMPDIR: it must be empty again afterwards
    temp.mkdir()
    log = tmp_path / "demo.log"  # a file, not a pipe nobody drains while the demo runs
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(ROOT)}
    with log.open("wb") as log_file:
        demo = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "scripts.demo", "--port", str(port), "--load-time", "60"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        await started(url, demo)
        [demo_dir] = list(temp.glob("spark-control-demo-*"))
        assert any(demo_dir.rglob("id_ed25519*")), "the demo's private key should exist"
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            r = await client.post("/api/swap", json={"model_key": "gemma-3-27b"})
            assert r.status_code == 202, r.text

            async def loading() -> bool:
                swap = (await client.get("/api/status")).json()["swap"]
                return bool(swap) and swap["phase"] == "loading"

            await wait_until(loading, "the swap to be loading", timeout=60)
        # The simulator, its SSH servers' commands and the fake vLLM all live under the demo dir.
        before = processes_mentioning(str(temp))
        assert any("vllm" in cmd for cmd in before.values()), before
        demo.send_signal(sig)
        async with asyncio.timeout(60):
            await demo.wait()
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()
    text = log.read_text(errors="replace")
    assert demo.returncode == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    await wait_until(
        lambda: not processes_mentioning(str(temp)), "the demo's processes to end", timeout=20
    )
    assert list(temp.iterdir()) == [], "the demo's temp directory was left behind"


async def test_event_streams_open_at_shutdown_end_without_errors(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            "-m",
            "app",
            "--port",
            str(port),
            "--config",
            str(tmp_path / "none.yaml"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await started(url, server)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            streams = [client.stream("GET", "/api/events") for _ in range(3)]
            opened = [await s.__aenter__() for s in streams]
            readers = []
            for response in opened:
                assert response.status_code == 200
                lines = response.aiter_lines()
                assert (await anext(lines)).startswith(("id:", "event:"))  # the hello event
                readers.append(lines)
            server.send_signal(signal.SIGTERM)
            for lines in readers:
                async for _ in lines:  # ends when the server ends the stream
                    pass
            for s in streams:
                await s.__aexit__(None, None, None)
        async with asyncio.timeout(30):
            output, _ = await server.communicate()
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    text = output.decode(errors="replace")
    # uvicorn re-raises the SIGTERM it handled once it is done: a clean exit by that signal.
    assert server.returncode in (0, -signal.SIGTERM), text
    assert "Traceback" not in text and "ERROR" not in text, text


async def test_client_leaving_mid_body_is_not_an_error(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="spark_control")
    port = client.base_url.port
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/swap/lock HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"holder":'
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()

    def logged() -> list[Any]:
        return [r for r in caplog.records if "closed the connection while sending" in r.message]

    [record] = await wait_until(logged, "the disconnect to be logged")
    assert record.levelno == logging.INFO
    assert record.getMessage() == "client closed the connection while sending POST /api/swap/lock"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert (await client.get("/api/health")).status_code == 200
