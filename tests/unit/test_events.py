"""The event bus: monotone ids, resume by Last-Event-ID, slow subscribers told to resync."""

from __future__ import annotations

import pytest

from app.events import RESYNC, EventBus


async def test_ids_are_monotone_and_subscribers_see_events() -> None:
    bus = EventBus()
    async with bus.subscribe() as sub:
        first = bus.publish("lock", {"held": True})
        second = bus.publish("schedule", {"id": "x"})
        assert second.id == first.id + 1
        assert (await sub.next(1)).id == first.id
        got = await sub.next(1)
        assert (got.kind, got.data) == ("schedule", {"id": "x"})


async def test_resume_replays_after_last_event_id() -> None:
    bus = EventBus()
    for i in range(5):
        bus.publish("n", {"i": i})
    async with bus.subscribe(last_event_id=3) as sub:
        assert [(await sub.next(1)).data["i"] for _ in range(2)] == [3, 4]
        with pytest.raises(TimeoutError):
            await sub.next(0.01)


async def test_resume_older_than_history_starts_with_resync() -> None:
    bus = EventBus(history=3)
    for i in range(10):
        bus.publish("n", {"i": i})
    async with bus.subscribe(last_event_id=2) as sub:
        event = await sub.next(1)
        assert event.kind == RESYNC
        assert event.id == 10


async def test_resume_from_the_future_means_server_restarted() -> None:
    bus = EventBus()
    bus.publish("n", {})
    async with bus.subscribe(last_event_id=500) as sub:
        assert (await sub.next(1)).kind == RESYNC


async def test_slow_subscriber_overflows_to_resync_without_blocking_others() -> None:
    bus = EventBus(queue_size=4)
    slow = bus.subscribe()
    fast = bus.subscribe()
    seen = []
    for i in range(10):
        bus.publish("n", {"i": i})  # never blocks, whatever the subscribers do
        seen.append((await fast.next(1)).data["i"])
    assert seen == list(range(10))
    event = await slow.next(1)
    assert event.kind == RESYNC
    bus.publish("n", {"i": 10})
    assert (await slow.next(1)).data == {"i": 10}
    slow.close()
    fast.close()
    assert bus.subscriber_count == 0


async def test_closed_subscription_stops_iteration() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await sub.next()
