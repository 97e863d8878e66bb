"""Which happenings become webhook events: Spark reachability flips, a crashed or restarted
model, the swap lock's acquire / release / expiry, and finished downloads."""

from __future__ import annotations

from typing import Any

import pytest

from app.clock import ManualClock
from app.coordination.lock import SwapLock
from app.coordination.notifications import Notifier
from app.coordination.webhook import WebhookSender
from app.events import EventBus


class Emitted(WebhookSender):
    def __init__(self) -> None:
        super().__init__("http://receiver.invalid/", "")
        self.emitted: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event: str, fields: dict[str, Any]) -> None:  # type: ignore[override]
        self.emitted.append((event, fields))


@pytest.fixture
def setup() -> tuple[EventBus, Emitted, Notifier]:
    bus = EventBus(clock=ManualClock())
    webhook = Emitted()
    return bus, webhook, Notifier(bus, webhook)


def feed(bus: EventBus, notifier: Notifier, kind: str, data: Any) -> None:
    notifier.handle(bus.publish(kind, data))


def test_spark_flips_but_not_the_first_result(setup: tuple[EventBus, Emitted, Notifier]) -> None:
    bus, webhook, notifier = setup
    feed(bus, notifier, "spark", {"name": "spark2", "reachable": False, "detail": "refused"})
    feed(bus, notifier, "spark", {"name": "spark1", "reachable": True, "detail": "ok"})
    assert webhook.emitted == []  # nothing was known before the first results
    feed(bus, notifier, "spark", {"name": "spark1", "reachable": False, "detail": "timed out"})
    feed(bus, notifier, "spark", {"name": "spark1", "reachable": True, "detail": "ok"})
    assert webhook.emitted == [
        ("spark_unreachable", {"spark": "spark1", "detail": "timed out"}),
        ("spark_recovered", {"spark": "spark1", "detail": "ok"}),
    ]


def test_model_crash_and_restart(setup: tuple[EventBus, Emitted, Notifier]) -> None:
    bus, webhook, notifier = setup
    ready = {"key": "gemma", "state": "ready", "served_name": "g"}
    failed = {**ready, "state": "failed"}
    feed(bus, notifier, "model", ready)
    feed(bus, notifier, "model", {"action": "added", "key": "x"})  # a catalog change: ignored
    feed(bus, notifier, "model", failed)
    feed(bus, notifier, "model", ready)
    # A swap's own path (ready → stopped → loading → ready) is not a crash.
    for state in ("stopped", "loading", "ready"):
        feed(bus, notifier, "model", {**ready, "state": state})
    fields = {"model_key": "gemma", "served_name": "g"}
    assert webhook.emitted == [("model_crashed", fields), ("model_restarted", fields)]


def test_resync_forgets_what_was_known(setup: tuple[EventBus, Emitted, Notifier]) -> None:
    bus, webhook, notifier = setup
    feed(bus, notifier, "spark", {"name": "spark1", "reachable": True})
    notifier.handle(bus.make_resync())
    feed(bus, notifier, "spark", {"name": "spark1", "reachable": False})
    assert webhook.emitted == []


def test_lock_events_never_carry_the_token() -> None:
    clock = ManualClock()
    webhook = Emitted()
    notifier = Notifier(EventBus(clock=clock), webhook)
    lock = SwapLock(clock, on_change=lambda status: notifier.lock_changed(lock.last_change, status))
    grant = lock.acquire("cron", 60, note="nightly")
    lock.acquire("cron", 120, token=grant.token)  # an extension is not an event
    lock.release(grant.token)
    lock.acquire("other", 10)
    clock.advance(11)
    assert lock.status().held is False  # observing the lock notices the expiry
    events = [name for name, _ in webhook.emitted]
    assert events == ["lock_acquired", "lock_released", "lock_acquired", "lock_expired"]
    assert webhook.emitted[1][1]["holder"] == "cron" and webhook.emitted[1][1]["note"] == "nightly"
    assert webhook.emitted[3][1]["holder"] == "other"
    assert grant.token not in repr(webhook.emitted)


def test_download_outcomes(setup: tuple[EventBus, Emitted, Notifier]) -> None:
    _, webhook, notifier = setup
    notifier.download_finished({"download_id": "d1", "model_key": "m", "state": "done"})
    notifier.download_finished({"download_id": "d2", "model_key": "m", "state": "failed"})
    assert [e for e, _ in webhook.emitted] == ["download_complete", "download_failed"]
    with pytest.raises(ValueError):
        notifier.download_finished(["not", "a", "mapping"])
