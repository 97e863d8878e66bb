"""Admission of LLM requests around swaps: drain, hold, and swap on request.

:class:`SwapGate` sits between the proxy and the swap engine (it implements the engine's
:class:`~app.swap.traffic.Traffic`). Contract:

* **Quiet** (no swap runs and swap-on-request is off): :attr:`SwapGate.quiet` is True and the
  proxy forwards as it always did; the only cost is :meth:`track` / :meth:`untrack` of the
  request (a set insert and removal), so a drain can find it later.
* **Drain**: when a swap stops the served model, :meth:`drain` waits up to
  ``swap.drain_timeout_s`` for the tracked requests, then calls ``cut()`` on the rest (the
  proxy ends a cut stream with an OpenAI-shaped SSE error event and ``data: [DONE]``, or
  answers 503 when nothing was sent yet) and waits, bounded, until they have ended.
* **Hold**: while a swap runs, :meth:`decide` gives a request for the incoming model (or one
  naming no model) a :class:`Waiter` — at most ``swap.hold_max_requests`` of them — which
  :meth:`swap_ended` resolves with :data:`GO` or with a 503 :class:`Refusal` carrying the
  failure. Requests for any other model, over the bound, or (the proxy's side) past
  ``swap.hold_timeout_s`` get 503 with ``Retry-After`` estimated from the incoming model's
  recent load times (:class:`LoadTimes`). ``hold_timeout_s: 0`` refuses at once, as before.
  A waiter whose client leaves is dropped with :meth:`leave`.
* **Swap on request** (``swap.on_request``): a request naming a catalog model that is not
  served starts a swap to it and waits as above, unless the lock is held, the served model
  has been ready for less than ``swap.min_dwell_s``, or requests to it are in flight; those,
  and a request for a third model while a swap runs, get 503 with ``Retry-After``.

Nothing here blocks or does I/O; every method runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import statistics
from collections import deque
from collections.abc import Callable
from typing import Protocol

import msgspec

from app.clock import Clock
from app.config import SwapSettings
from app.proxy.policy import Refusal
from app.swap.traffic import DrainResult

log = logging.getLogger("spark_control.proxy")

# Retry-After when a model has no load history yet (a first swap to it).
UNKNOWN_LOAD_S = 60.0
RECENT_LOADS = 5
CUT_SETTLE_S = 5.0
HELD_REPORT_S = 0.2  # how long a drain waits for cut requests to send their last bytes


class LoadTimes(Protocol):
    """Recent load durations of a model (seconds, newest first). The engine's job history
    serves it today; the persistent swap statistics can replace it."""

    def recent_load_seconds(self, model_key: str, limit: int) -> list[float]: ...


class SwapControl(Protocol):
    """What swap-on-request needs of the engine and the lock."""

    def served_key(self) -> str | None:
        """The catalog key of the model the head serves (None: nothing, or unknown)."""
        ...

    def key_for(self, model: str) -> str | None:
        """The catalog key a client's ``model`` names (served name or key), else None."""
        ...

    def lock_holder(self) -> str | None:
        """Who holds the swap lock, or None."""
        ...

    def start_swap(self, model_key: str, client: str) -> str | None:
        """Start a real swap on behalf of the client at address ``client`` (recorded as the
        swap's origin); returns None, or a client-safe sentence why it could not."""
        ...


class Flight(Protocol):
    """A request in flight to the served model, as the gate sees it."""

    def cut(self) -> None:
        """End the request now, telling its client the model is being swapped."""
        ...


class Go(msgspec.Struct, frozen=True):
    """Forward the request."""


GO = Go()


class Waiter:
    """A held request: ``outcome`` resolves with :data:`GO` or a :class:`Refusal`."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        self.outcome: asyncio.Future[Go | Refusal] = asyncio.get_running_loop().create_future()


class _Swap:
    """The swap the gate is holding requests for."""

    __slots__ = ("held", "model_key", "served_name", "started")

    def __init__(self, model_key: str, served_name: str | None, started: float) -> None:
        self.model_key = model_key
        self.served_name = served_name
        self.started = started
        self.held: deque[Waiter] = deque()


def swapping_refusal(message: str, code: str, retry_after: int | None) -> Refusal:
    return Refusal(503, message, "service_unavailable", code, retry_after=retry_after)


class SwapGate:
    """See the module docstring. ``served_name_of(key)`` maps a catalog key to the name
    clients use (None for an unknown key)."""

    def __init__(
        self,
        settings: SwapSettings,
        clock: Clock,
        load_times: LoadTimes,
        served_name_of: Callable[[str], str | None],
        control: SwapControl | None = None,
        on_held: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._load_times = load_times
        self._served_name_of = served_name_of
        self._control = control
        self._on_held = on_held
        self._held_report: asyncio.TimerHandle | None = None
        self._swap: _Swap | None = None
        self._flights: set[Flight] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._ready_since: float | None = None  # when the served model became ready (a swap)
        self.quiet = not settings.on_request

    # --- the request path --------------------------------------------------------------------

    def track(self, flight: Flight) -> None:
        self._flights.add(flight)
        self._idle.clear()

    def untrack(self, flight: Flight) -> None:
        self._flights.discard(flight)
        if not self._flights:
            self._idle.set()

    def requests_in_flight(self) -> int:
        return len(self._flights)

    @property
    def held(self) -> int:
        """Requests waiting for the incoming model."""
        return len(self._swap.held) if self._swap is not None else 0

    def decide(self, model: str | None, client: str) -> Go | Refusal | Waiter:
        """Forward, refuse or hold a request naming ``model`` (None: names none) from
        ``client`` (an address, for the origin of a swap it starts)."""
        swap = self._swap
        if swap is None and self._control is not None and model is not None:
            started = self._maybe_swap_on_request(self._control, model, client)
            if started is not None:
                return started
            swap = self._swap
        if swap is None:
            return GO
        if model is not None and model not in (swap.model_key, swap.served_name):
            return swapping_refusal(
                f"The cluster is being swapped to {swap.served_name or swap.model_key}; "
                f"{model} is not served now.",
                "model_swapping",
                self.retry_after(),
            )
        if self.settings.hold_timeout_s <= 0:
            return swapping_refusal(
                "A model swap is in progress; retry when it has finished.",
                "swap_in_progress",
                self.retry_after(),
            )
        if len(swap.held) >= self.settings.hold_max_requests:
            return swapping_refusal(
                f"{len(swap.held)} requests are already waiting for the model being loaded; "
                "retry when it is ready.",
                "hold_queue_full",
                self.retry_after(),
            )
        waiter = Waiter()
        swap.held.append(waiter)
        self._held_changed()
        return waiter

    def leave(self, waiter: Waiter) -> None:
        """A held request gave up (its client left, or it waited too long)."""
        swap = self._swap
        if swap is not None:
            with contextlib.suppress(ValueError):
                swap.held.remove(waiter)
                self._held_changed()
        if not waiter.outcome.done():
            waiter.outcome.cancel()

    def _held_changed(self) -> None:
        """Report the queue length, at most every ``HELD_REPORT_S`` (50 requests arriving
        together make one report, not 50)."""
        if self._on_held is not None and self._held_report is None:
            self._held_report = asyncio.get_running_loop().call_later(
                HELD_REPORT_S, self._report_held
            )

    def _report_held(self) -> None:
        self._held_report = None
        if self._on_held is not None:
            self._on_held(self.held)

    def timed_out(self) -> Refusal:
        return swapping_refusal(
            f"The model was not ready within {self.settings.hold_timeout_s:g} s; retry later.",
            "swap_in_progress",
            self.retry_after(),
        )

    def retry_after(self) -> int:
        """Seconds until the swap in progress is likely over: the incoming model's typical
        load time (median of its recent loads) minus what has elapsed; at least 1."""
        swap = self._swap
        if swap is None:
            return 1
        loads = self._load_times.recent_load_seconds(swap.model_key, RECENT_LOADS)
        typical = statistics.median(loads) if loads else UNKNOWN_LOAD_S
        elapsed = self._clock.monotonic() - swap.started
        return max(1, math.ceil(typical - elapsed))

    def _maybe_swap_on_request(
        self, control: SwapControl, model: str, client: str
    ) -> Refusal | None:
        """Start a swap to ``model`` if it is a catalog model that is not served and nothing
        forbids it. None: nothing to do here (served, unknown, or the swap began)."""
        key = control.key_for(model)
        if key is None or key == control.served_key():
            return None
        holder = control.lock_holder()
        if holder is not None:
            return swapping_refusal(
                f"{model} is not served and the swap lock is held by {holder}.",
                "swap_locked",
                None,
            )
        if self._ready_since is not None:
            dwell = self._ready_since + self.settings.min_dwell_s - self._clock.monotonic()
            if dwell > 0:
                return swapping_refusal(
                    f"{model} is not served, and the served model stays at least "
                    f"{self.settings.min_dwell_s:g} s after a swap.",
                    "model_not_served",
                    max(1, math.ceil(dwell)),
                )
        if self._flights:
            return swapping_refusal(
                f"{model} is not served, and requests to the served model are still running.",
                "model_not_served",
                max(1, math.ceil(self.settings.drain_timeout_s)),
            )
        problem = control.start_swap(key, client)
        if problem is not None:
            return swapping_refusal(f"{model} is not served: {problem}", "model_not_served", None)
        log.info("swap to %s requested by /v1 (%s)", key, client)
        return None

    # --- the engine's side (Traffic) ----------------------------------------------------------

    def swap_started(self, model_key: str) -> None:
        previous = self._swap
        self._swap = _Swap(model_key, self._served_name_of(model_key), self._clock.monotonic())
        self.quiet = False
        if previous is not None:  # a rollback after a failure that was not reported: be safe
            self._release(previous, GO)

    async def drain(self, timeout_s: float) -> DrainResult:
        flights = len(self._flights)
        if flights and timeout_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._idle.wait()
        remaining = list(self._flights)
        for flight in remaining:
            flight.cut()
        if remaining:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CUT_SETTLE_S):
                    await self._idle.wait()
        return DrainResult(drained=flights - len(remaining), cut=len(remaining))

    def swap_ended(self, ready: bool, reason: str | None = None) -> None:
        swap = self._swap
        if swap is None:
            return
        self._swap = None
        self.quiet = not self.settings.on_request
        if ready:
            self._ready_since = self._clock.monotonic()
            self._release(swap, GO)
        else:
            what = swap.served_name or swap.model_key
            self._release(
                swap,
                Refusal(
                    503,
                    f"The swap to {what} failed: {reason or 'no reason given'}",
                    "service_unavailable",
                    "swap_failed",
                ),
            )

    @staticmethod
    def _release(swap: _Swap, outcome: Go | Refusal) -> None:
        while swap.held:
            waiter = swap.held.popleft()
            if not waiter.outcome.done():
                waiter.outcome.set_result(outcome)
