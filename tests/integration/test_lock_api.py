"""The swap lock over HTTP, against a real server, with the test's manual clock."""

from __future__ import annotations

import asyncio

import httpx

from app.clock import ManualClock


async def acquire(
    client: httpx.AsyncClient, holder: str = "cron", **body: object
) -> httpx.Response:
    return await client.post("/api/swap/lock", json={"holder": holder, **body})


async def test_acquire_returns_token_and_status(client: httpx.AsyncClient) -> None:
    r = await acquire(client, "openclaw-daily-vol", ttl_seconds=900, note="daily vol run")
    assert r.status_code == 200
    body = r.json()
    assert body["held"] is True
    assert body["holder"] == "openclaw-daily-vol"
    assert body["acquired_at"] == "2026-06-17T12:00:00+00:00"
    assert body["expires_at"] == "2026-06-17T12:15:00+00:00"
    assert body["seconds_remaining"] == 900
    assert body["note"] == "daily vol run"
    assert len(body["token"]) >= 32

    status = (await client.get("/api/swap/lock")).json()
    assert status == {
        "held": True,
        "holder": "openclaw-daily-vol",
        "acquired_at": "2026-06-17T12:00:00+00:00",
        "expires_at": "2026-06-17T12:15:00+00:00",
        "seconds_remaining": 900,
        "note": "daily vol run",
    }
    assert body["token"] not in (await client.get("/api/swap/lock")).text


async def test_unheld_status_is_just_held_false(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/swap/lock")).json() == {"held": False}


async def test_ttl_is_clamped_and_defaults_to_900(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    assert (await acquire(client, "a")).json()["seconds_remaining"] == 900
    await client.delete("/api/swap/lock", params={"force": "true"})
    assert (await acquire(client, "a", ttl_seconds=0)).json()["seconds_remaining"] == 1
    await client.delete("/api/swap/lock", params={"force": "true"})
    assert (await acquire(client, "a", ttl_seconds=-50)).json()["seconds_remaining"] == 1
    await client.delete("/api/swap/lock", params={"force": "true"})
    assert (await acquire(client, "a", ttl_seconds=10**9)).json()["seconds_remaining"] == 86400


async def test_lock_expires_lazily(client: httpx.AsyncClient, clock: ManualClock) -> None:
    await acquire(client, "a", ttl_seconds=60)
    clock.advance(59)
    assert (await client.get("/api/swap/lock")).json()["seconds_remaining"] == 1
    clock.advance(1)
    assert (await client.get("/api/swap/lock")).json() == {"held": False}
    # and anyone may take it now
    assert (await acquire(client, "b")).status_code == 200


async def test_other_holder_gets_409_with_lock_state(client: httpx.AsyncClient) -> None:
    await acquire(client, "a", note="mine")
    r = await acquire(client, "b")
    assert r.status_code == 409
    body = r.json()
    assert "'a'" in body["detail"]
    assert body["lock"]["holder"] == "a"
    assert body["lock"]["note"] == "mine"
    assert "token" not in body["lock"]


async def test_same_holder_without_or_with_wrong_token_is_403(client: httpx.AsyncClient) -> None:
    await acquire(client, "a")
    assert (await acquire(client, "a")).status_code == 403
    assert (await acquire(client, "a", token="not-the-token")).status_code == 403


async def test_extend_keeps_token_and_acquired_at(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    first = (await acquire(client, "a", ttl_seconds=100)).json()
    clock.advance(50)
    r = await acquire(client, "a", ttl_seconds=300, token=first["token"])
    assert r.status_code == 200
    second = r.json()
    assert second["token"] == first["token"]
    assert second["acquired_at"] == first["acquired_at"]
    assert second["expires_at"] == "2026-06-17T12:05:50+00:00"
    assert second["seconds_remaining"] == 300


async def test_extend_with_token_in_header(client: httpx.AsyncClient) -> None:
    token = (await acquire(client, "a")).json()["token"]
    r = await client.post(
        "/api/swap/lock",
        json={"holder": "a", "ttl_seconds": 10},
        headers={"X-Swap-Lock-Token": token},
    )
    assert r.status_code == 200
    assert r.json()["seconds_remaining"] == 10


async def test_release_by_header_and_by_query(client: httpx.AsyncClient) -> None:
    token = (await acquire(client, "a")).json()["token"]
    r = await client.delete("/api/swap/lock", headers={"X-Swap-Lock-Token": token})
    assert (r.status_code, r.json()) == (200, {"held": False})

    token = (await acquire(client, "a")).json()["token"]
    r = await client.delete("/api/swap/lock", params={"token": token})
    assert (r.status_code, r.json()) == (200, {"held": False})


async def test_release_with_wrong_token_is_403_and_keeps_lock(client: httpx.AsyncClient) -> None:
    await acquire(client, "a")
    r = await client.delete("/api/swap/lock", headers={"X-Swap-Lock-Token": "wrong"})
    assert r.status_code == 403
    r = await client.delete("/api/swap/lock")
    assert r.status_code == 403
    assert (await client.get("/api/swap/lock")).json()["held"] is True


async def test_force_release_needs_no_token(client: httpx.AsyncClient) -> None:
    await acquire(client, "a")
    r = await client.delete("/api/swap/lock", params={"force": "true"})
    assert (r.status_code, r.json()) == (200, {"held": False})
    assert (await client.get("/api/swap/lock")).json() == {"held": False}


async def test_releasing_unheld_lock_is_200(client: httpx.AsyncClient) -> None:
    r = await client.delete("/api/swap/lock", params={"token": "whatever"})
    assert (r.status_code, r.json()) == (200, {"held": False})


async def test_fifty_concurrent_acquirers_exactly_one_wins(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(acquire(client, f"holder-{i}") for i in range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1
    assert codes.count(409) == 49
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert (await client.get("/api/swap/lock")).json()["holder"] == winner["holder"]


async def test_bad_lock_requests_are_400_naming_the_field(client: httpx.AsyncClient) -> None:
    cases = [
        ({"holder": ""}, "holder"),
        ({"holder": "x" * 65}, "holder"),
        ({"holder": "line\nbreak"}, "holder"),
        ({}, "holder"),
        ({"holder": "a", "ttl_seconds": "ten"}, "ttl_seconds"),
        ({"holder": "a", "ttl_seconds": 1.5}, "ttl_seconds"),
        ({"holder": "a", "note": "n" * 501}, "note"),
    ]
    for body, field in cases:
        r = await client.post("/api/swap/lock", json=body)
        assert r.status_code == 400, body
        assert field in r.json()["detail"], (body, r.json())


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/swap/lock", content=b'{"holder":', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert "JSON" in r.json()["detail"]
