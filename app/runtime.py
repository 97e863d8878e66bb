"""The composition root: builds the domain services from the config and the external systems
handed in (clock, webhook sender, …). It knows nothing about HTTP; ``app.web.create_app`` wraps
it. Tests build a ``Runtime`` with substitutes for any collaborator.
"""

from __future__ import annotations

import logging
from typing import Any

from app.clock import Clock, SystemClock
from app.config import Config
from app.coordination.lock import LockStatus, SwapLock
from app.coordination.schedule import Schedule, ScheduleRegistry
from app.coordination.webhook import WebhookSender
from app.events import EventBus

log = logging.getLogger("spark_control")

NO_SPARKS_MESSAGE = "no Sparks configured — run the Configure Sparks action"


class Runtime:
    """Everything the HTTP layer serves, wired together. Start it once; stop it once."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        events: EventBus | None = None,
        webhook: WebhookSender | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.events = events or EventBus(clock=self.clock)
        self.webhook = webhook or WebhookSender(config.webhook.url, config.webhook.secret)
        self.lock = SwapLock(self.clock, on_change=self._lock_changed)
        self.schedules = ScheduleRegistry(self.clock, on_change=self._schedule_changed)

    @property
    def warnings(self) -> list[str]:
        warnings = list(self.config.warnings)
        if not self.config.configured:
            warnings.append(NO_SPARKS_MESSAGE)
        return warnings

    def _lock_changed(self, status: LockStatus) -> None:
        self.events.publish("lock", status)

    def _schedule_changed(self, action: str, schedule: Schedule | None, schedule_id: str) -> None:
        data: dict[str, Any] = {"action": action, "id": schedule_id}
        if schedule is not None:
            data["schedule"] = schedule
        self.events.publish("schedule", data)

    async def start(self) -> None:
        for warning in self.config.warnings:
            log.warning("config: %s", warning)
        if not self.config.configured:
            log.warning("%s", NO_SPARKS_MESSAGE)

    async def stop(self) -> None:
        await self.webhook.aclose()
