"""Webhook signatures (the seed's and Standard Webhooks'), event selection, retries, the test
endpoint and the recorded deliveries — against real receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from app.coordination.webhook import SwapEvent, WebhookSender
from app.storage.deliveries import Delivery
from tests.integration.test_webhook import Receiver
from tests.servers import serve
from tests.waits import wait_until

SECRET = "s3cret-shared-with-the-receiver"


class ScriptedReceiver(Receiver):
    """Answers with the given statuses in turn (then 200), recording every request."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__()
        self.statuses = list(statuses)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append({"headers": headers, "body": body})
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": f"answer {status}".encode()})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[ScriptedReceiver, str]]:
    app = ScriptedReceiver([])
    async with serve(app) as url:
        yield app, url + "/hooks/spark"


def swap_event() -> SwapEvent:
    return SwapEvent(
        event="swap_complete",
        job_id="1a2b3c4d",
        model_key="gemma-3-27b",
        state="ready",
        returncode=0,
        started_at="2026-06-17T12:00:00+00:00",
        finished_at="2026-06-17T12:03:11+00:00",
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("secret", "library_secret"),
    [
        (SECRET, "whsec_" + base64.b64encode(SECRET.encode()).decode()),
        ("whsec_" + base64.b64encode(b"\x01" * 24).decode(), None),
    ],
    ids=["plain-secret", "whsec-secret"],
)
async def test_both_signatures_verify(
    receiver: tuple[ScriptedReceiver, str], secret: str, library_secret: str | None
) -> None:
    app, url = receiver
    sender = WebhookSender(url, secret)
    task = sender.notify(swap_event())
    assert task is not None
    await task
    await sender.aclose()
    request = app.requests[0]
    raw_body, headers = request["body"], request["headers"]
    # The seed's payload and header, unchanged.
    assert json.loads(raw_body)["event"] == "swap_complete"
    assert headers["x-spark-event"] == "swap_complete"
    # The seed's own verification snippet, verbatim.
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, headers["x-spark-signature"])
    # An off-the-shelf Standard Webhooks verifier.
    payload = Webhook(library_secret or secret).verify(raw_body, headers)
    assert payload["job_id"] == "1a2b3c4d"
    assert headers["webhook-id"].startswith("msg_")
    # A body changed in transit, or a replayed id with another timestamp, does not verify.
    with pytest.raises(Exception, match="signature"):
        Webhook(library_secret or secret).verify(raw_body.replace(b"gemma", b"llama"), headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(library_secret or secret).verify(
            raw_body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)}
        )


async def test_unsigned_without_a_secret_but_still_identified(
    receiver: tuple[ScriptedReceiver, str],
) -> None:
    app, url = receiver
    sender = WebhookSender(url, "")
    await sender.notify(swap_event())  # type: ignore[misc]
    await sender.aclose()
    headers = app.requests[0]["headers"]
    assert "x-spark-signature" not in headers and "webhook-signature" not in headers
    assert headers["webhook-id"] and headers["webhook-timestamp"].isdigit()


async def test_retries_back_off_and_resend_the_same_message(
    receiver: tuple[ScriptedReceiver, str],
) -> None:
    app, url = receiver
    app.statuses = [503, 502]
    recorded: list[Delivery] = []
    sender = WebhookSender(url, SECRET, retries=3, backoff_s=0.01, on_delivery=recorded.append)
    await sender.notify(swap_event())  # type: ignore[misc]
    await sender.aclose()
    assert len(app.requests) == 3
    ids = {r["headers"]["webhook-id"] for r in app.requests}
    signatures = {r["headers"]["webhook-signature"] for r in app.requests}
    assert len(ids) == 1 and len(signatures) == 1
    [delivery] = recorded
    assert delivery.ok and delivery.attempts == 3 and delivery.status == 200
    assert delivery.event == "swap_complete" and delivery.delivery_id in ids


async def test_a_refusal_is_not_retried(receiver: tuple[ScriptedReceiver, str]) -> None:
    app, url = receiver
    app.statuses = [401]
    recorded: list[Delivery] = []
    sender = WebhookSender(url, SECRET, retries=3, backoff_s=0.01, on_delivery=recorded.append)
    await sender.notify(swap_event())  # type: ignore[misc]
    await sender.aclose()
    assert len(app.requests) == 1
    assert recorded[0].status == 401 and not recorded[0].ok
    assert recorded[0].error == "The receiver answered HTTP 401."


async def test_events_are_sent_only_when_selected(receiver: tuple[ScriptedReceiver, str]) -> None:
    app, url = receiver
    default = WebhookSender(url, SECRET)
    assert default.emit("lock_acquired", {"holder": "cron"}) is None
    chosen = WebhookSender(url, SECRET, events=["lock_acquired"])
    assert chosen.notify(swap_event()) is None  # swap events not selected here
    await chosen.emit("lock_acquired", {"holder": "cron"})  # type: ignore[misc]
    await chosen.aclose()
    [request] = app.requests
    body = json.loads(request["body"])
    assert body["event"] == "lock_acquired" and body["holder"] == "cron" and "at" in body
    assert request["headers"]["x-spark-event"] == "lock_acquired"


def app_config(tmp_path: Path, url: str, **webhook: Any) -> dict[str, Any]:
    return {
        "webhook": {"url": url, "secret": SECRET, **webhook},
        "storage": {"database": str(tmp_path / "spark-control.db")},
    }


async def test_test_endpoint_returns_the_receivers_answer(
    spark_app: Any, tmp_path: Path, receiver: tuple[ScriptedReceiver, str]
) -> None:
    app, url = receiver
    async with spark_app(app_config(tmp_path, url)) as client:
        r = await client.post("/api/webhook/test")
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["delivered"] and result["status"] == 200
        assert result["response"] == "answer 200" and result["latency_ms"] >= 0
        request = app.requests[0]
        assert json.loads(request["body"])["event"] == "test"
        assert request["headers"]["x-spark-event"] == "test"
        Webhook("whsec_" + base64.b64encode(SECRET.encode()).decode()).verify(
            request["body"], request["headers"]
        )
        listing = (await client.get("/api/webhook/deliveries")).json()
        assert listing["configured"] and listing["target"].startswith("http://127.0.0.1:")
        assert "/hooks" not in listing["target"]  # never the path (it may carry a token)
        assert listing["deliveries"][0]["delivery_id"] == result["delivery_id"]
        assert SECRET not in r.text + json.dumps(listing)


async def test_test_endpoint_without_a_url_is_409(spark_app: Any, tmp_path: Path) -> None:
    async with spark_app(app_config(tmp_path, "")) as client:
        r = await client.post("/api/webhook/test")
    assert r.status_code == 409 and "No webhook URL" in r.json()["detail"]


async def test_a_receiver_that_is_down_is_recorded(spark_app: Any, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    config = app_config(tmp_path, url, events=["lock_acquired", "lock_released"])
    async with spark_app(config) as client:
        test = (await client.post("/api/webhook/test")).json()
        assert not test["delivered"] and test["status"] is None
        assert "Could not connect" in test["error"]
        grant = (await client.post("/api/swap/lock", json={"holder": "cron"})).json()
        await client.request(
            "DELETE", "/api/swap/lock", headers={"X-Swap-Lock-Token": grant["token"]}
        )

        async def recorded() -> list[dict[str, Any]]:
            body = (await client.get("/api/webhook/deliveries")).json()
            return body["deliveries"] if len(body["deliveries"]) == 3 else []

        deliveries = await wait_until(recorded, "three recorded deliveries")
    # The two lock deliveries run concurrently: either may be recorded first.
    assert sorted(d["event"] for d in deliveries) == ["lock_acquired", "lock_released", "test"]
    assert deliveries[-1]["event"] == "test"
    assert all(not d["ok"] and "Could not connect" in d["error"] for d in deliveries)
    assert grant["token"] not in json.dumps(deliveries)


async def test_max_in_flight_drop_is_recorded() -> None:
    recorded: list[Delivery] = []
    gate = asyncio.Event()

    class Hanging(WebhookSender):
        async def _background(self, *args: Any) -> None:
            await gate.wait()

    sender = Hanging("http://127.0.0.1:9/x", max_in_flight=1, on_delivery=recorded.append)
    assert sender.notify(swap_event()) is not None
    assert sender.notify(swap_event()) is None
    assert recorded[0].error is not None and "Dropped" in recorded[0].error
    gate.set()
    await sender.aclose()
