"""``GET /api/events``: every state change as SSE, ``Last-Event-ID`` resume, resync, heartbeats.

These run an app with no Sparks configured, so the only events are the ones the test causes
(lock and schedule changes through the API)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.events import EventBus
from app.web import sse as sse_module
from tests.servers import AppClient
from tests.sse import SseEvent, open_sse
from tests.waits import no_cyclic_gc, wait_until


async def make_events(client: httpx.AsyncClient, count: int, prefix: str = "job") -> None:
    """``count`` schedule registrations through the API (one ``schedule`` event each)."""
    for i in range(count):
        r = await client.post(
            "/api/schedule", json={"id": f"{prefix}-{i}", "name": f"{prefix} {i}"}
        )
        assert r.status_code == 200, r.text


async def read(stream: Any, count: int) -> list[SseEvent]:
    return [await stream.next() for _ in range(count)]


async def test_live_events_then_resume_gets_exactly_the_later_ones(
    client: httpx.AsyncClient,
) -> None:
    async with open_sse(client, "/api/events") as stream:
        hello = await stream.next()
        assert hello.event == "hello"
        start = int(hello.id)
        await make_events(client, 3)
        grant = (await client.post("/api/swap/lock", json={"holder": "cron"})).json()
        await client.delete("/api/swap/lock", headers={"X-Swap-Lock-Token": grant["token"]})
        live = await read(stream, 5)

    assert [e.event for e in live] == ["schedule", "schedule", "schedule", "lock", "lock"]
    ids = [int(e.id) for e in live]
    assert ids == list(range(start + 1, start + 6))  # monotone, no gaps
    assert [e.data["id"] for e in live] == ids and [e.data["kind"] for e in live] == [
        e.event for e in live
    ]
    assert live[0].data["data"]["schedule"]["name"] == "job 0"
    assert live[3].data["data"]["held"] is True and "token" not in live[3].data["data"]
    assert live[4].data["data"] == {"held": False}
    assert all(e.data["at"].endswith("+00:00") for e in live)

    # Reconnect as a browser does, with the id of the second event it saw.
    async with open_sse(client, "/api/events", {"Last-Event-ID": live[1].id}) as stream:
        replayed = await read(stream, 3)
        await make_events(client, 1, prefix="marker")
        after = await stream.next()
    assert [(e.id, e.event, e.data) for e in replayed] == [
        (e.id, e.event, e.data) for e in live[2:]
    ]
    # Nothing else was replayed: the next event is the one caused after reconnecting.
    assert after.event == "schedule" and after.data["data"]["id"] == "marker-0"
    assert int(after.id) == ids[-1] + 1


async def test_resume_older_than_the_ring_or_from_the_future_starts_with_resync(
    spark_app: Any,
) -> None:
    async with spark_app(events=EventBus(history=3)) as client:
        await make_events(client, 6)
        for last_seen in ("1", "999"):  # dropped from the ring; issued by a previous process
            async with open_sse(client, "/api/events", {"Last-Event-ID": last_seen}) as stream:
                first = await stream.next()
                await make_events(client, 1, prefix=f"after-{last_seen}")
                second = await stream.next()
            assert first.event == "resync"
            assert second.event == "schedule" and int(second.id) == int(first.id) + 1


async def test_garbage_last_event_id_replays_what_the_ring_holds(spark_app: Any) -> None:
    async with spark_app(events=EventBus(history=100)) as client:
        await make_events(client, 2)
        async with open_sse(client, "/api/events", {"Last-Event-ID": "yesterday"}) as stream:
            events = await read(stream, 2)
    assert [e.data["data"]["id"] for e in events] == ["job-0", "job-1"]


async def test_slow_subscriber_is_told_to_resync_and_never_blocks_the_publisher(
    spark_app: Any,
) -> None:
    bus = EventBus(queue_size=4)
    async with spark_app(events=bus) as client:
        async with (
            open_sse(client, "/api/events") as slow,
            open_sse(client, "/api/events") as other,
        ):
            assert (await slow.next()).event == "hello"
            assert (await other.next()).event == "hello"
            # A burst the streams cannot drain in between: publish() returns at once anyway.
            for i in range(50):
                bus.publish("gpu", {"round": i})
            await make_events(client, 1, prefix="later")
            for stream in (slow, other):
                seen = [await stream.next()]
                while seen[-1].event != "schedule":
                    seen.append(await stream.next())
                kinds = [e.event for e in seen]
                assert "resync" in kinds
                assert len(seen) < 50  # the backlog was dropped, not delivered late
                assert seen[-1].data["data"]["id"] == "later-0"


async def test_quiet_stream_gets_heartbeats(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse_module, "HEARTBEAT_S", 0.05)
    async with open_sse(client, "/api/events") as stream:
        assert (await stream.next()).event == "hello"
        beat = await stream.next(comments=True)
        assert beat.event == ":" and beat.data == "heartbeat"


async def test_closing_the_stream_unsubscribes(client: AppClient) -> None:
    bus: EventBus = client.app.state.runtime.events
    before = bus.subscriber_count
    with no_cyclic_gc():
        async with open_sse(client, "/api/events") as stream:
            await stream.next()
            assert bus.subscriber_count == before + 1
        await wait_until(lambda: bus.subscriber_count == before, "the subscription to close")
