"""The crash watchdog: relaunch the served model when it dies after it was ready.

Contract:
* It acts only on a model that was ``ready`` and became ``failed`` outside a swap (the status
  probes saw its server down; ``SwapEngine.observe_health``). A failed swap is the swap's
  business (its rollback), never the watchdog's.
* First it asks the head why (``crash_cause.inspect_crash``: is vLLM's process still there,
  what does its log say). A vLLM that exited or logged a decisive fatal line is relaunched at
  once; one whose process runs but whose health checks fail gets ``watchdog.grace_s`` to
  recover. Before relaunching it checks again: if the model recovered by itself, someone started
  a swap, or the head now serves something else, it does nothing. While the swap lock is held
  it does not relaunch (the holder owns the GPUs' plan; a relaunch is a swap, and swaps need
  the token); it says so once and checks again after the next grace period.
* A relaunch is an ordinary swap job to the same model (origin ``watchdog``), so it shows in
  the history and fires the webhook like any other. At most ``watchdog.max_restarts`` in
  ``watchdog.window_s``; the first waits ``grace_s``, each next one ``backoff_s`` doubled per
  attempt on top. Past the bound it gives up and says so.
* Every step is a ``watchdog`` event on the bus: ``crashed`` (with vLLM's reason and
  ``dead``), ``waiting`` (lock held),
  ``restarting`` (with the job id), ``restarted``, ``gave_up``.

Nothing here talks to a Spark itself; ``aclose`` cancels a pending relaunch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from app.clock import Clock
from app.config import WatchdogSettings
from app.coordination.lock import SwapLock
from app.events import EventBus
from app.swap.crash_cause import CrashCause
from app.swap.errors import SwapInProgress
from app.swap.jobs import JobState, Origin
from app.swap.running import ModelState, RunningModel, ServedModel

if TYPE_CHECKING:
    from app.swap.engine import SwapEngine

log = logging.getLogger("spark_control.watchdog")

ORIGIN = Origin(kind="watchdog")


class CrashWatchdog:
    def __init__(
        self,
        settings: WatchdogSettings,
        engine: SwapEngine,
        served: ServedModel,
        lock: SwapLock,
        events: EventBus,
        clock: Clock,
        inspect: Callable[[str], Awaitable[CrashCause]],
    ) -> None:
        self.settings = settings
        self._inspect = inspect
        self._engine = engine
        self._served = served
        self._lock = lock
        self._events = events
        self._clock = clock
        self._restarts: deque[float] = deque()  # monotonic times of recent relaunches
        self._task: asyncio.Task[None] | None = None

    def observe(self, old: RunningModel, new: RunningModel) -> None:
        """The engine's running model changed (called synchronously, on the loop)."""
        if not self.settings.enabled or self._task is not None:
            return
        if old.state == ModelState.READY and new.state == ModelState.FAILED and new.key:
            if self._served.swapping:
                return
            self._task = asyncio.get_running_loop().create_task(
                self._recover(new.key), name=f"watchdog-{new.key}"
            )
            self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("watchdog failed", exc_info=task.exception())

    def _say(self, action: str, key: str, message: str, **extra: Any) -> None:
        log.warning("watchdog: %s", message)
        self._events.publish(
            "watchdog", {"action": action, "model_key": key, "message": message, **extra}
        )

    async def _recover(self, key: str) -> None:
        s = self.settings
        cause = await self._inspect(key)
        self._say(
            "crashed",
            key,
            f"{key} stopped answering after it was ready. {cause.sentence}",
            dead=cause.dead,
        )
        delay = 0.0 if cause.dead else s.grace_s
        waiting_said = False
        while True:
            await asyncio.sleep(delay)
            running = self._served.current
            if running.state == ModelState.READY or self._served.swapping or running.key != key:
                return  # recovered, or someone else decides now
            now = self._clock.monotonic()
            while self._restarts and now - self._restarts[0] >= s.window_s:
                self._restarts.popleft()
            if len(self._restarts) >= s.max_restarts:
                self._say(
                    "gave_up",
                    key,
                    f"{key} crashed again after {len(self._restarts)} restarts in "
                    f"{s.window_s:g} s; the watchdog gives up (swap to it to try again)",
                    restarts=len(self._restarts),
                )
                return
            lock = self._lock.status()
            holder = lock.holder if lock.held and isinstance(lock.holder, str) else None
            if holder is not None:
                if not waiting_said:
                    self._say(
                        "waiting", key, f"not restarting {key}: the swap lock is held by {holder}"
                    )
                    waiting_said = True
                delay = s.grace_s
                continue
            attempt = len(self._restarts) + 1
            try:
                job = self._engine.start(key, origin=ORIGIN)
            except SwapInProgress:
                return
            except Exception as err:  # not configured, removed from the catalog, locked
                self._say("gave_up", key, f"cannot restart {key}: {err}")
                return
            self._restarts.append(now)
            self._say(
                "restarting",
                key,
                f"restarting {key} (attempt {attempt})",
                job_id=job.job_id,
                attempt=attempt,
            )
            done = await self._engine.wait(job.job_id)
            if done.state == JobState.READY:
                self._say("restarted", key, f"{key} is ready again", job_id=job.job_id)
                return
            delay = s.grace_s + s.backoff_s * 2 ** (attempt - 1)

    async def aclose(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
