"""Optional API keys: with ``server.api_keys`` set, /api and /v1 need ``Authorization: Bearer``
(OpenAI-shaped 401 on /v1, as OpenAI SDKs expect), scopes limit what a key may do, the
dashboard logs in with a key into an HttpOnly SameSite=Strict session cookie, and no key ever
reaches a log. Without keys nothing changes."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import openai
import pytest

from app.config import parse_config
from app.runtime import Runtime
from app.web import create_app
from app.web.auth import KeyRing
from tests.servers import serve

KEYS = {scope: f"sk-{scope}-{secrets.token_hex(16)}" for scope in ("read", "operate", "admin")}
CONFIG = {
    "server": {
        "api_keys": [
            {
                "name": f"{scope}-key",
                "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
                "scope": scope,
            }
            for scope, key in KEYS.items()
        ]
    }
}


def bearer(scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[scope]}"}


@asynccontextmanager
async def keyed_app() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Runtime(parse_config(CONFIG, {})))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


async def test_api_needs_a_key() -> None:
    async with keyed_app() as client:
        for path in ["/api/status", "/api/models", "/api/swap", "/api/events", "/metrics"]:
            r = await client.get(path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"] == "Bearer"
            assert list(r.json()) == ["detail"]
        for wrong in ["Bearer nope", f"Bearer {KEYS['read']}x", f"Basic {KEYS['read']}", "Bearer"]:
            r = await client.get("/api/status", headers={"Authorization": wrong})
            assert r.status_code == 401, wrong
        r = await client.post("/api/swap/lock", json={"holder": "x"})
        assert r.status_code == 401
        # Open: the health check, the login, and the dashboard's files (they carry no data).
        for path in ["/api/health", "/api/session", "/", "/static/app.css", "/static/login.html"]:
            assert (await client.get(path)).status_code == 200, path


async def test_v1_401_is_openai_shaped_and_sdks_understand_it() -> None:
    async with keyed_app() as client:
        r = await client.post("/v1/chat/completions", json={"model": "m", "messages": []})
        assert r.status_code == 401
        error = r.json()["error"]
        assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
        sdk = openai.AsyncOpenAI(base_url=f"{client.base_url}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await sdk.models.list()
        good = openai.AsyncOpenAI(
            base_url=f"{client.base_url}/v1", api_key=KEYS["read"], max_retries=0
        )
        # Past the key check: the (unconfigured) backend's own answer, not a 401.
        with pytest.raises(openai.APIStatusError) as failure:
            await good.models.list()
        assert failure.value.status_code not in (401, 403)
        await sdk.close()
        await good.close()


async def test_scopes() -> None:
    async with keyed_app() as client:
        assert (await client.get("/api/status", headers=bearer("read"))).status_code == 200
        r = await client.post("/api/swap/lock", json={"holder": "x"}, headers=bearer("read"))
        assert r.status_code == 403
        assert (
            r.json()["detail"]
            == "The API key 'read-key' has scope read; this request needs operate."
        )
        r = await client.post("/api/swap/lock", json={"holder": "x"}, headers=bearer("operate"))
        assert r.status_code == 200
        r = await client.delete("/api/swap/lock?force=true", headers=bearer("operate"))
        assert r.status_code == 403
        r = await client.post("/api/models", json={"key": "m"}, headers=bearer("operate"))
        assert r.status_code == 403
        r = await client.post("/api/models", json={"key": "m"}, headers=bearer("admin"))
        assert r.status_code == 400  # past the key check, refused by validation
        r = await client.delete("/api/swap/lock?force=true", headers=bearer("admin"))
        assert r.status_code == 200


async def test_dashboard_login_sets_a_strict_httponly_session() -> None:
    async with keyed_app() as client:
        assert (await client.get("/api/session")).json() == {"required": True, "logged_in": False}
        r = await client.post("/api/session", json={"key": "wrong"})
        assert r.status_code == 401 and r.json() == {"detail": "That API key is not valid."}
        assert "set-cookie" not in r.headers
        r = await client.post("/api/session", json={"key": KEYS["operate"]})
        assert r.status_code == 200
        assert r.json() == {
            "required": True,
            "logged_in": True,
            "name": "operate-key",
            "scope": "operate",
        }
        cookie = r.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "path", "samesite"} <= attributes
        assert "samesite=strict" in cookie.lower() and KEYS["operate"] not in cookie
        # The session authenticates with the key's scope (httpx keeps the cookie).
        assert (await client.get("/api/status")).status_code == 200
        assert (await client.post("/api/swap/lock", json={"holder": "dash"})).status_code == 200
        r = await client.post("/api/models", json={"key": "m"})
        assert r.status_code == 403
        # Cross-site, the cookie is useless even where a browser would send it.
        r = await client.post(
            "/api/swap/lock", json={"holder": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert r.status_code == 403
        await client.delete("/api/session")
        assert (await client.get("/api/status")).status_code == 401


async def test_without_keys_nothing_needs_a_key() -> None:
    app = create_app(Runtime(parse_config({}, {})))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/api/status")).status_code == 200
        assert (await client.post("/api/swap/lock", json={"holder": "x"})).status_code == 200
        assert (await client.get("/api/session")).json() == {"required": False, "logged_in": False}
        r = await client.post("/api/session", json={"key": "anything"})
        assert r.status_code == 409


async def test_keys_never_reach_a_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with keyed_app() as client:
        await client.get("/api/status", headers=bearer("admin"))
        await client.get("/api/status", headers={"Authorization": f"Bearer {KEYS['read']}-typo"})
        await client.post("/api/session", json={"key": KEYS["operate"]})
        await client.post("/api/session", json={"key": KEYS["read"] + "-typo"})
        await client.get("/v1/models", headers=bearer("read"))
    text = caplog.text
    for key in KEYS.values():
        assert key not in text
        assert hashlib.sha256(key.encode()).hexdigest() not in text


def test_every_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The presented key's digest is compared with every configured hash, with
    ``hmac.compare_digest``, whichever matches (or none)."""
    ring = KeyRing(parse_config(CONFIG, {}).server.api_keys)
    calls: list[Any] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for presented in [KEYS["read"], KEYS["admin"], "nope"]:
        calls.clear()
        ring.match(presented)
        assert len(calls) == len(KEYS)
    assert ring.match(KEYS["admin"]).scope == "admin"  # type: ignore[union-attr]
    assert ring.match("nope") is None
