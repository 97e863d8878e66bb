"""The proxy's admission around swaps, on its own: what a request gets while a swap runs, how
Retry-After is estimated, and when a request may start a swap (swap on request)."""

from __future__ import annotations

import asyncio

from app.clock import ManualClock
from app.config import SwapSettings
from app.proxy.admission import GO, SwapGate, Waiter
from app.proxy.policy import Refusal

SERVED = {"gemma": "gemma-3-27b", "qwen": "qwen3-32b", "llama": "llama-70b"}


class Loads:
    def __init__(self, **seconds: list[float]) -> None:
        self.seconds = seconds

    def recent_load_seconds(self, model_key: str, limit: int) -> list[float]:
        return self.seconds.get(model_key, [])[:limit]


class Control:
    """A stand-in for the engine + lock + catalog that records the swaps it was asked for."""

    def __init__(self, gate_ref: list[SwapGate], served: str | None = "gemma") -> None:
        self.served = served
        self.holder: str | None = None
        self.started: list[tuple[str, str]] = []
        self._gate = gate_ref

    def served_key(self) -> str | None:
        return self.served

    def key_for(self, model: str) -> str | None:
        return next((k for k, name in SERVED.items() if model in (k, name)), None)

    def lock_holder(self) -> str | None:
        return self.holder

    def start_swap(self, model_key: str, origin: str) -> str | None:
        self.started.append((model_key, origin))
        self._gate[0].swap_started(model_key)  # as the engine does, synchronously
        return None


def gate(clock: ManualClock, *, control: Control | None = None, **settings: object) -> SwapGate:
    return SwapGate(
        SwapSettings(**settings),  # type: ignore[arg-type]
        clock,
        Loads(qwen=[40.0, 100.0, 50.0]),
        SERVED.get,
        control,
    )


def on_request(clock: ManualClock, **settings: object) -> tuple[SwapGate, Control]:
    ref: list[SwapGate] = []
    control = Control(ref)
    g = gate(clock, control=control, on_request=True, **settings)
    ref.append(g)
    return g, control


def refusal(verdict: object) -> Refusal:
    assert isinstance(verdict, Refusal), verdict
    return verdict


async def test_quiet_until_a_swap_starts_and_after_it_ends() -> None:
    clock = ManualClock()
    g = gate(clock)
    assert g.quiet
    g.swap_started("qwen")
    assert not g.quiet
    g.swap_ended(True)
    assert g.quiet


async def test_retry_after_is_the_median_recent_load_minus_elapsed() -> None:
    clock = ManualClock()
    g = gate(clock)
    g.swap_started("qwen")  # recent loads 40, 100, 50 s: median 50
    r = refusal(g.decide("llama-70b", "10.0.0.9"))
    assert r.status == 503 and r.code == "model_swapping" and r.retry_after == 50
    clock.advance(20)
    assert refusal(g.decide("llama-70b", "10.0.0.9")).retry_after == 30
    clock.advance(100)  # longer than ever before: still "soon", never 0
    assert refusal(g.decide("llama-70b", "10.0.0.9")).retry_after == 1
    g.swap_ended(True)
    g.swap_started("gemma")  # no history: a conservative default
    assert refusal(g.decide("qwen3-32b", "x")).retry_after == 60


async def test_held_requests_go_when_ready_and_get_the_reason_on_failure() -> None:
    clock = ManualClock()
    g = gate(clock, hold_max_requests=2)
    g.swap_started("qwen")
    first, second = g.decide("qwen3-32b", "a"), g.decide(None, "b")  # by served name; no name
    assert isinstance(first, Waiter) and isinstance(second, Waiter) and g.held == 2
    assert refusal(g.decide("qwen", "c")).code == "hold_queue_full"
    g.leave(second)
    assert g.held == 1 and second.outcome.cancelled()
    g.swap_ended(True)
    assert first.outcome.result() is GO and g.held == 0

    g.swap_started("qwen")
    third = g.decide("qwen", "d")
    assert isinstance(third, Waiter)
    g.swap_ended(False, "launch-cluster.sh exited with status 3.")
    failed = refusal(third.outcome.result())
    assert failed.code == "swap_failed"
    assert failed.message == "The swap to qwen3-32b failed: launch-cluster.sh exited with status 3."


async def test_hold_timeout_zero_refuses_at_once() -> None:
    g = gate(ManualClock(), hold_timeout_s=0)
    g.swap_started("qwen")
    r = refusal(g.decide("qwen", "a"))
    assert r.code == "swap_in_progress" and r.retry_after == 50


class Flight:
    def __init__(self, g: SwapGate) -> None:
        self.gate = g
        self.cuts = 0

    def cut(self) -> None:
        self.cuts += 1
        self.gate.untrack(self)


async def test_drain_waits_for_in_flight_then_cuts_the_rest() -> None:
    g = gate(ManualClock())
    quick, slow = Flight(g), Flight(g)
    g.track(quick)
    g.track(slow)
    asyncio.get_running_loop().call_soon(g.untrack, quick)
    result = await g.drain(0.05)
    assert (result.drained, result.cut) == (1, 1)
    assert (quick.cuts, slow.cuts) == (0, 1)
    assert g.requests_in_flight() == 0
    assert (await g.drain(0)).cut == 0


async def test_a_request_for_an_unserved_model_starts_one_swap_the_third_model_waits() -> None:
    clock = ManualClock()
    g, control = on_request(clock)
    assert not g.quiet  # every request's model is looked at
    assert g.decide("gemma-3-27b", "10.0.0.5") is GO  # served: nothing to do
    assert g.decide("mystery", "10.0.0.5") is GO  # not in the catalog: the backend answers
    held = g.decide("qwen3-32b", "10.0.0.7")
    assert isinstance(held, Waiter)
    assert control.started == [("qwen", "10.0.0.7")]
    third = refusal(g.decide("llama-70b", "10.0.0.8"))
    assert third.code == "model_swapping" and third.retry_after == 50
    assert isinstance(g.decide("qwen", "10.0.0.9"), Waiter)  # the same model joins the queue
    assert len(control.started) == 1


async def test_min_dwell_in_flight_requests_and_the_lock_block_swap_on_request() -> None:
    clock = ManualClock()
    g, control = on_request(clock, min_dwell_s=300)
    g.swap_started("qwen")
    g.swap_ended(True)
    control.served = "qwen"
    clock.advance(100)
    dwell = refusal(g.decide("gemma", "a"))
    assert dwell.code == "model_not_served" and dwell.retry_after == 200
    clock.advance(200)
    busy = Flight(g)
    g.track(busy)
    assert refusal(g.decide("gemma", "a")).code == "model_not_served"
    g.untrack(busy)
    control.holder = "nightly-eval"
    locked = refusal(g.decide("gemma", "a"))
    assert locked.code == "swap_locked" and "nightly-eval" in locked.message
    assert control.started == []
    control.holder = None
    assert isinstance(g.decide("gemma", "a"), Waiter)
    assert [key for key, _ in control.started] == ["gemma"]


def test_load_times_fall_back_to_the_history_databases_median() -> None:
    from app.swap.jobs import JobHistory
    from app.swap.load_times import JobLoadTimes

    persisted = {"qwen": 42.0}
    times = JobLoadTimes(JobHistory(), persisted)
    assert times.recent_load_seconds("qwen", 5) == [42.0]  # nothing swapped in this run yet
    assert times.recent_load_seconds("other", 5) == []
