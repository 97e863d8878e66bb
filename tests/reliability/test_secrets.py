"""Secrets stay secret: after a scenario that uses a webhook secret, lock tokens and an HF
token, none of them appears in the app's log, in any API response (other than the one grant
that hands a token to its holder), in any SSE event, or in the simulator's recorded command
lines — while each secret still did its job."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.coordination.webhook import WebhookSender
from app.runtime import Runtime
from app.web import create_app
from tests.cluster import FAST, sim_config, simulator
from tests.integration.test_webhook import Receiver
from tests.servers import serve

WEBHOOK_SECRET = "whsec-9f8e7d6c5b4a-never-log-me"
HF_TOKEN = "hf_TopSecretTokenValue0123456789"


async def sse_text(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], seconds: float
) -> str:
    """Whatever an SSE stream sends within ``seconds`` (or until it ends)."""
    chunks: list[str] = []
    try:
        async with asyncio.timeout(seconds), client.stream("GET", url, headers=headers) as response:
            async for chunk in response.aiter_text():
                chunks.append(chunk)
    except TimeoutError:
        pass
    return "".join(chunks)


async def test_no_secret_leaks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # As the app configures them (app.logs): httpx's INFO lines would otherwise show the test
    # client's own request URLs, which carry a token on purpose. asyncssh stays at DEBUG.
    for noisy in ("httpx", "httpcore"):
        caplog.set_level(logging.WARNING, logger=noisy)
    caplog.set_level(logging.DEBUG)  # last: it also sets the capturing handler's level
    receiver = Receiver()
    # uvicorn turns propagation of its access logger off for a server without access logs, and
    # that logger is process-wide: both servers here keep it on so caplog sees every line.
    async with serve(receiver, access_log=True) as hook_url, simulator(tmp_path / "sim") as sim:
        logging.getLogger("uvicorn.access").propagate = True
        config = sim_config(
            sim,
            webhook={"url": hook_url + "/hook", "secret": WEBHOOK_SECRET},
            vllm={"hf_token": HF_TOKEN},
        )
        webhook = WebhookSender(config.webhook.url, config.webhook.secret)
        runtime = Runtime(config, webhook=webhook, timings=FAST)
        app = create_app(runtime)
        seen: list[str] = []  # every response body except the grants
        async with (
            serve(app, access_log=True) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as client,
        ):

            async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
                response = await client.request(method, path, **kwargs)
                seen.append(response.text)
                return response

            grant = (
                await client.post("/api/swap/lock", json={"holder": "cron", "note": "nightly"})
            ).json()
            token = grant["token"]
            extended = (
                await client.post("/api/swap/lock", json={"holder": "cron", "token": token})
            ).json()
            assert extended["token"] == token
            await call("POST", "/api/swap/lock", json={"holder": "other"})  # 409 shows the lock
            await call("POST", "/api/swap/lock", json={"holder": "cron", "token": "wrong"})  # 403
            await call("POST", "/api/swap", json={"model_key": "gemma-3-27b"})  # 423
            r = await call(
                "POST",
                "/api/swap",
                json={"model_key": "gemma-3-27b"},
                headers={"X-Swap-Lock-Token": token},
            )
            job_id = r.json()["job_id"]
            async with asyncio.timeout(60):
                await runtime.engine.wait(job_id)
            await asyncio.wait_for(receiver.arrived.wait(), 10)
            await call(
                "DELETE", f"/api/swap/lock?token={token}"
            )  # the query form ends up in the access log
            second = (await client.post("/api/swap/lock", json={"holder": "cron"})).json()["token"]
            await call("DELETE", "/api/swap/lock", headers={"X-Swap-Lock-Token": second})

            for path in [
                "/api/status", "/api/swap/lock", "/api/swap", f"/api/swap/{job_id}", "/api/models",
                "/api/endpoints", "/api/schedule", "/api/gpu/history", "/api/health", "/api/health/deep",
                "/metrics", "/openapi.json", "/api/logs/vllm",
            ]:  # fmt: skip
                await call("GET", path)
            seen.append(await sse_text(client, f"/api/swap/{job_id}/stream", {}, 5))
            seen.append(await sse_text(client, "/api/events", {"Last-Event-ID": "1"}, 1.5))
            await webhook.aclose()

        # Each secret did its job …
        assert (await runtime.engine.wait(job_id)).state == "ready"
        record = json.loads((sim.node("spark1").paths.containers / "vllm_node.json").read_text())
        assert record["env"].get("HF_TOKEN") == HF_TOKEN  # reached the container via SSH env
        [delivery] = receiver.requests
        expected = (
            "sha256="
            + hmac.new(WEBHOOK_SECRET.encode(), delivery["body"], hashlib.sha256).hexdigest()
        )
        assert delivery["headers"]["x-spark-signature"] == expected
        assert any("token=***" in line for line in caplog.messages), (
            "the access log line was not captured"
        )

        # … and none of them leaked anywhere.
        commands = [c for node in sim.nodes for c in node.commands]
        assert any("-e HF_TOKEN" in c for c in commands)
        places = {
            "app log": caplog.text,
            "API responses and SSE": "\n".join(seen),
            "recorded command lines": "\n".join(commands),
            "webhook body": delivery["body"].decode(),
        }
        for secret_name, secret in [
            ("webhook secret", WEBHOOK_SECRET), ("HF token", HF_TOKEN),
            ("lock token", token), ("second lock token", second),
        ]:  # fmt: skip
            for place, text in places.items():
                assert secret not in text, f"the {secret_name} leaked into the {place}"
