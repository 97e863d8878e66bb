"""The read-only schedule registry over HTTP."""

from __future__ import annotations

import re

import httpx

from app.clock import ManualClock


async def test_register_with_id_and_list(client: httpx.AsyncClient) -> None:
    entry = {
        "id": "daily-vol",
        "name": "Daily Vol",
        "owner": "openclaw",
        "cron": "0 6 * * *",
        "next_run": "2026-06-18T06:00:00Z",
        "description": "Swaps to the big model, generates the vol report",
    }
    r = await client.post("/api/schedule", json=entry)
    assert r.status_code == 200
    stored = r.json()
    assert {k: stored[k] for k in entry} == entry  # next_run given ⇒ stored as given
    assert stored["registered_at"] == stored["updated_at"] == "2026-06-17T12:00:00+00:00"
    assert (await client.get("/api/schedule")).json() == {"schedules": [stored]}


async def test_generated_id(client: httpx.AsyncClient) -> None:
    first = (await client.post("/api/schedule", json={"name": "A"})).json()
    second = (await client.post("/api/schedule", json={"name": "B"})).json()
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", first["id"])
    assert first["id"] != second["id"]
    assert len((await client.get("/api/schedule")).json()["schedules"]) == 2


async def test_reregister_updates_in_place(client: httpx.AsyncClient, clock: ManualClock) -> None:
    first = (await client.post("/api/schedule", json={"id": "job", "name": "Old"})).json()
    clock.advance(120)
    second = (await client.post("/api/schedule", json={"id": "job", "name": "New"})).json()
    assert second["registered_at"] == first["registered_at"]
    assert second["updated_at"] == "2026-06-17T12:02:00+00:00"
    listed = (await client.get("/api/schedule")).json()["schedules"]
    assert [s["name"] for s in listed] == ["New"]


async def test_delete_and_unknown_is_404(client: httpx.AsyncClient) -> None:
    await client.post("/api/schedule", json={"id": "job", "name": "A"})
    r = await client.delete("/api/schedule/job")
    assert (r.status_code, r.json()) == (200, {"deleted": True})
    assert (await client.get("/api/schedule")).json() == {"schedules": []}
    r = await client.delete("/api/schedule/job")
    assert r.status_code == 404
    assert "job" in r.json()["detail"]


async def test_bad_ids_and_fields_are_400(client: httpx.AsyncClient) -> None:
    for bad in ["has space", "semi;colon", "x" * 65, "", "slash/y"]:
        r = await client.post("/api/schedule", json={"id": bad, "name": "A"})
        assert r.status_code == 400, bad
        assert "id" in r.json()["detail"]
    r = await client.post("/api/schedule", json={"owner": "x"})
    assert r.status_code == 400 and "name" in r.json()["detail"]
    r = await client.post("/api/schedule", json={"name": "A", "cron": "x" * 129})
    assert r.status_code == 400 and "cron" in r.json()["detail"]
    r = await client.post("/api/schedule", json={"name": "n" * 201})
    assert r.status_code == 400 and "name" in r.json()["detail"]


async def test_parseable_cron_gets_computed_next_run(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    r = await client.post("/api/schedule", json={"id": "d", "name": "Daily", "cron": "0 6 * * *"})
    assert r.json()["next_run"] == "2026-06-18T06:00:00+00:00"
    r = await client.post("/api/schedule", json={"id": "h", "name": "Hourly", "cron": "@hourly"})
    assert r.json()["next_run"] == "2026-06-17T13:00:00+00:00"
    # once that moment passes, the listing shows the following one
    clock.advance(24 * 3600)
    listed = {s["id"]: s for s in (await client.get("/api/schedule")).json()["schedules"]}
    assert listed["d"]["next_run"] == "2026-06-19T06:00:00+00:00"


async def test_unparseable_cron_is_stored_as_given(client: httpx.AsyncClient) -> None:
    for cron in ["every morning-ish", "0 6 * *", "61 * * * *"]:
        r = await client.post("/api/schedule", json={"name": "Odd", "cron": cron})
        assert r.status_code == 200
        assert r.json()["cron"] == cron
        assert r.json()["next_run"] is None
