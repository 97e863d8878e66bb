"""Guessing API keys is braked: after 10 wrong credentials in 60 s from one client address, its
credentials are refused with 429 + Retry-After until the window ends, the right key included;
requests without a credential, repeats of the same wrong one and other addresses are not
affected. Time is a ManualClock: nothing here sleeps."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.clock import ManualClock
from app.config import parse_config
from app.runtime import Runtime
from app.web import create_app
from app.web.attempts import MAX_FAILURES, WINDOW_S
from app.web.auth import COOKIE, Auth
from tests.servers import serve

KEY = f"sk-{secrets.token_hex(16)}"
SERVER = {
    "api_keys": [
        {"name": "k", "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(), "scope": "operate"}
    ]
}
RIGHT = {"Authorization": f"Bearer {KEY}"}
LOCKED_SENTENCE = "Too many failed API key attempts from this address; try again in {} seconds."


def wrong(n: int) -> dict[str, str]:
    return {"Authorization": f"Bearer sk-wrong-{n}"}


def via(address: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers as a trusted proxy (loopback is trusted by default) forwards them for
    ``address``."""
    return {**(headers or {}), "X-Forwarded-For": address}


@asynccontextmanager
async def keyed_app(
    clock: ManualClock, **server: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Auth]]:
    config = parse_config({"server": {**SERVER, **server}}, {})
    app = create_app(Runtime(config, clock=clock))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client, app.state.auth


async def fail(
    client: httpx.AsyncClient, times: int, headers: dict[str, str] | None = None
) -> None:
    for n in range(times):
        r = await client.get("/api/status", headers={**wrong(n), **(headers or {})})
        assert r.status_code == 401, (n, r.text)


async def test_wrong_keys_lock_the_address_out_even_for_the_right_key() -> None:
    clock = ManualClock()
    async with keyed_app(clock) as (client, _):
        await fail(client, MAX_FAILURES - 1)
        assert (await client.get("/api/status", headers=RIGHT)).status_code == 200
        await fail(client, 1, via("127.0.0.1"))  # the tenth: same address, forwarded or not
        clock.advance(15)
        for headers in [wrong(99), RIGHT]:
            r = await client.get("/api/status", headers=headers)
            assert r.status_code == 429, r.text
            assert r.headers["retry-after"] == "45"
            assert r.json() == {"detail": LOCKED_SENTENCE.format(45)}
            assert "www-authenticate" not in r.headers
        # /v1 answers in OpenAI's shape (SDKs raise RateLimitError on a 429).
        r = await client.get("/v1/models", headers=RIGHT)
        assert r.status_code == 429 and r.headers["retry-after"] == "45"
        assert r.json() == {
            "error": {
                "message": LOCKED_SENTENCE.format(45),
                "type": "rate_limit_error",
                "code": "too_many_attempts",
            }
        }
        clock.advance(44.5)
        r = await client.get("/api/status", headers=RIGHT)
        assert r.status_code == 429 and r.headers["retry-after"] == "1"  # rounded up
        clock.advance(0.5)
        assert (await client.get("/api/status", headers=RIGHT)).status_code == 200
        # A new window: ten more wrong keys are needed to lock it out again.
        await fail(client, MAX_FAILURES)
        r = await client.get("/api/status", headers=RIGHT)
        assert r.status_code == 429 and r.headers["retry-after"] == str(int(WINDOW_S))


async def test_wrong_session_cookies_count_like_wrong_keys() -> None:
    clock = ManualClock()
    async with keyed_app(clock) as (client, _):
        for n in range(MAX_FAILURES):
            r = await client.get("/api/status", headers={"Cookie": f"{COOKIE}=forged-{n}"})
            assert r.status_code == 401
        r = await client.get("/api/status", headers={"Cookie": f"{COOKIE}=forged-x"})
        assert r.status_code == 429
        # Asking whether a cookie is a session is a check too.
        r = await client.get("/api/session", headers={"Cookie": f"{COOKIE}=forged-x"})
        assert r.status_code == 429 and r.headers["retry-after"] == "60"
        # Without a credential the address is answered as before.
        assert (await client.get("/api/session")).json() == {"required": True, "logged_in": False}
        assert (await client.get("/api/status")).status_code == 401
        assert (await client.get("/api/health")).status_code == 200


async def test_the_login_is_limited_the_same_way() -> None:
    clock = ManualClock()
    async with keyed_app(clock) as (client, _):
        for n in range(MAX_FAILURES):
            r = await client.post("/api/session", json={"key": f"guess-{n}"})
            assert r.status_code == 401
        r = await client.post("/api/session", json={"key": KEY})
        assert r.status_code == 429
        assert r.headers["retry-after"] == "60"
        assert r.json() == {"detail": LOCKED_SENTENCE.format(60)}
        assert "set-cookie" not in r.headers
        # The login's failures lock the address out of the API as well, and the reverse.
        assert (await client.get("/api/status", headers=RIGHT)).status_code == 429
        clock.advance(WINDOW_S)
        r = await client.post("/api/session", json={"key": KEY})
        assert r.status_code == 200 and COOKIE in r.headers["set-cookie"]
        assert (await client.get("/api/status")).status_code == 200  # the session works
        client.cookies.clear()
        await fail(client, MAX_FAILURES)
        assert (await client.post("/api/session", json={"key": KEY})).status_code == 429


async def test_what_is_not_a_guess_does_not_count() -> None:
    clock = ManualClock()
    async with keyed_app(clock) as (client, auth):
        for _ in range(3 * MAX_FAILURES):
            assert (await client.get("/api/status")).status_code == 401
            assert (await client.get("/v1/models")).status_code == 401
            # Not a Bearer credential at all: nothing presented.
            r = await client.get("/api/status", headers={"Authorization": "Basic x"})
            assert r.status_code == 401
        assert len(auth.attempts) == 0
        # The same wrong key again and again (a script with a typo) is one failure, however
        # often it is sent; so is an expired cookie every tab of a dashboard sends.
        for _ in range(3 * MAX_FAILURES):
            r = await client.get("/api/status", headers=wrong(1))
            assert r.status_code == 401
            r = await client.get("/api/status", headers={"Cookie": f"{COOKIE}=expired"})
            assert r.status_code == 401
            r = await client.post("/api/session", json={"key": "typo"})
            assert r.status_code == 401
        assert (await client.get("/api/status", headers=RIGHT)).status_code == 200
        # Those were three failures: seven new wrong keys lock the address out.
        for n in range(100, 100 + MAX_FAILURES - 3):
            assert (await client.get("/api/status", headers=wrong(n))).status_code == 401
        assert (await client.get("/api/status", headers=RIGHT)).status_code == 429


async def test_other_addresses_are_not_affected() -> None:
    clock = ManualClock()
    async with keyed_app(clock) as (client, _):
        attacker = "203.0.113.5"
        await fail(client, MAX_FAILURES, via(attacker))
        assert (await client.get("/api/status", headers=via(attacker, RIGHT))).status_code == 429
        # Another client behind the same proxy, and the proxy's host itself.
        assert (
            await client.get("/api/status", headers=via("203.0.113.6", RIGHT))
        ).status_code == 200
        assert (await client.get("/api/status", headers=RIGHT)).status_code == 200
        # Their successes reset nothing for the attacker.
        assert (await client.get("/api/status", headers=via(attacker, RIGHT))).status_code == 429
        # Prepending an invented address does not escape: the proxy appended the real one.
        spoofed = via(f"198.51.100.7, {attacker}", RIGHT)
        assert (await client.get("/api/status", headers=spoofed)).status_code == 429
        r = await client.post("/api/session", json={"key": KEY}, headers=via(attacker))
        assert r.status_code == 429


async def test_an_ipv6_host_rotating_addresses_in_its_64_is_one_address() -> None:
    """Every wrong key from a new address of the same /64 (what privacy addresses do by
    themselves, and a guesser at will) counts against that /64; the next /64 is not touched."""
    clock = ManualClock()
    async with keyed_app(clock) as (client, _):
        for n in range(MAX_FAILURES):
            r = await client.get("/api/status", headers=via(f"2001:db8:1:2::{n + 1:x}", wrong(n)))
            assert r.status_code == 401
        fresh = via("2001:db8:1:2:abcd:ef01:2345:6789", RIGHT)
        r = await client.get("/api/status", headers=fresh)
        assert r.status_code == 429 and r.headers["retry-after"] == str(int(WINDOW_S))
        neighbour = via("2001:db8:1:3::1", RIGHT)
        assert (await client.get("/api/status", headers=neighbour)).status_code == 200


async def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    """With loopback not trusted, each attempt names a different X-Forwarded-For: they all
    count against the real peer."""
    clock = ManualClock()
    async with keyed_app(clock, trusted_proxies=["10.0.3.1"]) as (client, _):
        for n in range(MAX_FAILURES):
            r = await client.get("/api/status", headers=via(f"203.0.113.{n}", wrong(n)))
            assert r.status_code == 401
        r = await client.get("/api/status", headers=via("203.0.113.200", RIGHT))
        assert r.status_code == 429


async def test_the_table_is_bounded_oldest_first() -> None:
    clock = ManualClock()
    async with keyed_app(clock) as (client, auth):
        auth.attempts.max_addresses = 3
        await fail(client, MAX_FAILURES, via("192.0.2.1"))
        for n in range(2, 5):
            clock.advance(1)
            await fail(client, 1, via(f"192.0.2.{n}"))
        assert len(auth.attempts) == 3
        # The oldest entry (the locked-out address) made room for the newest.
        assert (await client.get("/api/status", headers=via("192.0.2.1", RIGHT))).status_code == 200
        # Every window ends: the table empties itself.
        clock.advance(WINDOW_S)
        await client.get("/api/status", headers=wrong(0))
        assert len(auth.attempts) == 1


async def test_a_lockout_logs_one_warning_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    async with keyed_app(clock) as (client, _):
        guesses = [f"sk-guess-{secrets.token_hex(8)}" for _ in range(MAX_FAILURES)]
        for guess in guesses:
            r = await client.get(
                "/api/status", headers=via("203.0.113.9", {"Authorization": f"Bearer {guess}"})
            )
            assert r.status_code == 401
        for _ in range(5):
            r = await client.post("/api/session", json={"key": KEY}, headers=via("203.0.113.9"))
            assert r.status_code == 429
    warnings = [
        r for r in caplog.records if r.levelno >= logging.WARNING and r.name.endswith(".auth")
    ]
    assert [r.getMessage() for r in warnings] == [
        "10 failed credential attempts from 203.0.113.9 within 60 s: its credentials are "
        "refused for 60 s"
    ]
    for secret in [KEY, *guesses]:
        assert secret not in caplog.text
