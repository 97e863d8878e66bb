"""Which happenings become webhook events, beyond the seed's swap events (those the engine
sends itself).

* ``spark_unreachable`` / ``spark_recovered``: a Spark's probe flips from reachable to not, or
  back (the first result after startup is not a change: nothing was known before it).
* ``model_crashed``: the model the head served (``ready``) is reported ``failed`` — the status
  probes saw its server stop answering outside a swap. ``model_restarted``: a ``failed`` model
  answers again.
* ``lock_acquired`` / ``lock_released`` / ``lock_expired``: the swap lock (never its token).
* ``download_complete`` / ``download_failed``: :meth:`Notifier.download_finished`, called by the
  downloads feature when a download ends.

Spark and model changes arrive through the event bus (``run`` follows it until cancelled; after
a ``resync`` the notifier forgets what it knew rather than guess at missed changes); lock
changes are handed in directly because the bus's lock status does not say why it changed.
The webhook sender decides which of these are sent (``webhook.events``).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from app.coordination.lock import LockStatus
from app.coordination.webhook import WebhookSender
from app.events import RESYNC, Event, EventBus

log = logging.getLogger("spark_control.notifications")

LOCK_EVENTS = {"acquired": "lock_acquired", "released": "lock_released", "expired": "lock_expired"}


class Notifier:
    def __init__(self, events: EventBus, webhook: WebhookSender) -> None:
        self._events = events
        self._webhook = webhook
        self._reachable: dict[str, bool] = {}
        self._model: dict[str, Any] | None = None
        self._lock: LockStatus | None = None

    async def run(self) -> None:
        """Follow the event bus until cancelled."""
        async with self._events.subscribe() as subscription:
            async for event in subscription:
                try:
                    self.handle(event)
                except Exception:  # one odd event must not end notifications for good
                    log.exception("could not turn event %s into a notification", event.kind)

    def handle(self, event: Event) -> None:
        data = event.data
        if event.kind == RESYNC:
            self._reachable.clear()
            self._model = None
        elif event.kind == "spark" and isinstance(data, dict):
            self._spark(data)
        elif event.kind == "model" and isinstance(data, dict) and "state" in data:
            self._running_model(data)

    def _spark(self, data: dict[str, Any]) -> None:
        name, reachable = data.get("name"), data.get("reachable")
        if not isinstance(name, str) or not isinstance(reachable, bool):
            return
        before = self._reachable.get(name)
        self._reachable[name] = reachable
        if before is None or before == reachable:
            return
        self._webhook.emit(
            "spark_recovered" if reachable else "spark_unreachable",
            {"spark": name, "detail": data.get("detail")},
        )

    def _running_model(self, data: dict[str, Any]) -> None:
        before, self._model = self._model, data
        if before is None:
            return
        fields = {"model_key": data.get("key"), "served_name": data.get("served_name")}
        if before.get("state") == "ready" and data.get("state") == "failed":
            self._webhook.emit("model_crashed", fields)
        elif before.get("state") == "failed" and data.get("state") == "ready":
            self._webhook.emit("model_restarted", fields)

    def lock_changed(self, change: str, status: LockStatus) -> None:
        """The swap lock changed (``SwapLock.last_change``) and is now ``status``."""
        before, self._lock = self._lock, status if status.held else None
        event = LOCK_EVENTS.get(change)
        if event is None:
            return
        shown = status if status.held else before
        fields = msgspec.to_builtins(shown) if shown is not None else {}
        fields.pop("held", None)
        fields.pop("seconds_remaining", None)
        self._webhook.emit(event, fields)

    def download_finished(self, download: Any) -> None:
        """A download ended: ``download`` (a Struct or mapping) with ``state`` ``done`` /
        ``complete`` / ``ready`` sends ``download_complete``, any other ``download_failed``.
        Its fields are the event's (the downloads feature must not put secrets in them)."""
        fields = msgspec.to_builtins(download)
        if not isinstance(fields, dict):
            raise ValueError("a download must be a Struct or a mapping")
        fields.pop("event", None)
        ok = fields.get("state") in ("done", "complete", "completed", "ready")
        self._webhook.emit("download_complete" if ok else "download_failed", fields)
