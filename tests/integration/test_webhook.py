"""The swap-event webhook against real receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.coordination.webhook import SwapEvent, WebhookSender
from tests.servers import serve

SECRET = "s3cret-shared-with-the-receiver"


class Receiver:
    """An ASGI app that records each request (headers + raw body) and answers 200."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(
            {"path": scope["path"], "method": scope["method"], "headers": headers, "body": body}
        )
        self.arrived.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    app = Receiver()
    async with serve(app) as url:
        yield app, url + "/hooks/spark"


def event(**overrides: Any) -> SwapEvent:
    fields: dict[str, Any] = {
        "event": "swap_complete",
        "job_id": "1a2b3c4d",
        "model_key": "gemma-3-27b",
        "state": "ready",
        "returncode": 0,
        "started_at": "2026-06-17T12:00:00+00:00",
        "finished_at": "2026-06-17T12:03:11+00:00",
        "dry_run": False,
    }
    fields.update(overrides)
    return SwapEvent(**fields)


async def test_payload_headers_and_signature(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    sender = WebhookSender(url, SECRET)
    task = sender.notify(event())
    assert task is not None
    await asyncio.wait_for(app.arrived.wait(), 5)
    await sender.aclose()

    [request] = app.requests
    assert request["method"] == "POST"
    assert request["path"] == "/hooks/spark"
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["x-spark-event"] == "swap_complete"
    payload = json.loads(request["body"])
    assert list(payload) == [
        "event",
        "job_id",
        "model_key",
        "state",
        "returncode",
        "started_at",
        "finished_at",
        "dry_run",
    ]
    assert payload == {
        "event": "swap_complete",
        "job_id": "1a2b3c4d",
        "model_key": "gemma-3-27b",
        "state": "ready",
        "returncode": 0,
        "started_at": "2026-06-17T12:00:00+00:00",
        "finished_at": "2026-06-17T12:03:11+00:00",
        "dry_run": False,
    }
    # Exactly the receiver-side check from the coordination seed:
    secret, raw_body, headers = SECRET, request["body"], request["headers"]
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, headers["x-spark-signature"])


async def test_failed_event_fields(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    sender = WebhookSender(url, SECRET)
    sender.notify(event(event="swap_failed", state="failed", returncode=3))
    await asyncio.wait_for(app.arrived.wait(), 5)
    await sender.aclose()
    payload = json.loads(app.requests[0]["body"])
    assert payload["event"] == "swap_failed" and payload["state"] == "failed"
    assert payload["returncode"] == 3
    assert app.requests[0]["headers"]["x-spark-event"] == "swap_failed"


async def test_no_secret_means_no_signature_header(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    sender = WebhookSender(url, "")
    sender.notify(event())
    await asyncio.wait_for(app.arrived.wait(), 5)
    await sender.aclose()
    assert "x-spark-signature" not in app.requests[0]["headers"]


async def test_dry_run_never_sends(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    sender = WebhookSender(url, SECRET)
    assert sender.notify(event(dry_run=True)) is None
    await sender.aclose()
    assert app.requests == []


async def test_no_url_means_disabled() -> None:
    sender = WebhookSender("", SECRET)
    assert sender.notify(event()) is None
    await sender.aclose()


async def test_receiver_that_never_answers_gives_up_at_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    accepted: list[asyncio.StreamWriter] = []
    connected = asyncio.Event()

    async def hang(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing
        connected.set()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    assert WebhookSender("http://x/hook").timeout_s == 5.0  # the contract's default
    outcomes: list[bool] = []
    sender = WebhookSender(
        f"http://127.0.0.1:{port}/hook", SECRET, timeout_s=1.0, on_result=outcomes.append
    )
    task = sender.notify(event())
    assert task is not None and not task.done()  # the caller never waits on delivery
    await connected.wait()
    assert not task.done() and outcomes == []  # still waiting for the silent receiver
    with caplog.at_level(logging.WARNING, logger="spark_control.webhook"):
        await task
    assert outcomes == [False]
    assert SECRET not in caplog.text
    assert "no answer within 1 s" in caplog.text.lower()
    await sender.aclose()
    for writer in accepted:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_receiver_down_raises_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcomes: list[bool] = []
    sender = WebhookSender(f"http://127.0.0.1:{port}/hook", SECRET, on_result=outcomes.append)
    task = sender.notify(event())
    assert task is not None
    with caplog.at_level(logging.WARNING, logger="spark_control.webhook"):
        await task  # completes without raising
    assert outcomes == [False]
    assert "delivery failed" in caplog.text
    assert SECRET not in caplog.text
    await sender.aclose()


async def test_in_flight_is_bounded() -> None:
    async def hang(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    held: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    outcomes: list[bool] = []
    sender = WebhookSender(
        f"http://127.0.0.1:{port}/",
        SECRET,
        max_in_flight=3,
        timeout_s=0.5,
        on_result=outcomes.append,
    )
    tasks = [sender.notify(event(job_id=str(i))) for i in range(5)]
    assert sum(t is not None for t in tasks) == 3
    assert sender.in_flight == 3
    assert outcomes == [False, False]  # the two beyond the bound were dropped at once
    await sender.aclose()
    assert sender.in_flight == 0
    for w in held:
        w.close()
    server.close()
    await server.wait_closed()
