"""A stateful property test of the swap lock against a reference model.

Several holders acquire, extend, release, force-release and let the lock expire under an
injected clock, in any order hypothesis can think of; after every step the lock's answers
(grant, 409, 403, 423) and its public status must equal what the model predicts.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from app.clock import ManualClock
from app.coordination.lock import TTL_MAX, TTL_MIN, LockConflict, Locked, LockForbidden, SwapLock

HOLDERS = ["cron-a", "cron-b", "dashboard"]


@dataclass
class Held:
    holder: str
    token: str
    acquired_at: float
    expires_at: float
    note: str | None


class LockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.changes = 0
        self.lock = SwapLock(self.clock, on_change=lambda _s: self._count())
        self.now = 0.0
        self.model: Held | None = None
        self.tokens: dict[str, str] = {}  # the last token each holder was granted

    def _count(self) -> None:
        self.changes += 1

    def _current(self) -> Held | None:
        if self.model is not None and self.now >= self.model.expires_at:
            self.model = None
        return self.model

    def _token_for(self, holder: str, which: str) -> str | None:
        if which == "own":
            return self.tokens.get(holder)
        if which == "other":
            others = [t for h, t in self.tokens.items() if h != holder]
            return others[0] if others else "not-a-token"
        return None if which == "none" else "forged-token"

    @rule(
        holder=st.sampled_from(HOLDERS),
        ttl=st.one_of(st.none(), st.integers(-10, 200_000)),
        which=st.sampled_from(["own", "other", "none", "forged"]),
        note=st.one_of(st.none(), st.text(max_size=5)),
    )
    def acquire(self, holder: str, ttl: int | None, which: str, note: str | None) -> None:
        token = self._token_for(holder, which)
        clamped = 900 if ttl is None else max(TTL_MIN, min(TTL_MAX, ttl))
        current = self._current()
        try:
            grant = self.lock.acquire(holder, ttl_seconds=ttl, note=note, token=token)
        except LockConflict as err:
            assert current is not None and current.holder != holder
            assert err.status.holder == current.holder
            return
        except LockForbidden:
            assert current is not None and current.holder == holder and token != current.token
            return
        if current is None:
            assert grant.token not in self.tokens.values()
            self.model = Held(holder, grant.token, self.now, self.now + clamped, note)
        else:
            assert current.holder == holder and token == current.token
            assert grant.token == current.token  # extend keeps the token …
            current.expires_at = self.now + clamped
            if note is not None:
                current.note = note
        assert self.model is not None
        self.tokens[holder] = grant.token
        assert grant.seconds_remaining == clamped
        assert grant.acquired_at == self._iso(self.model.acquired_at)  # … and acquired_at

    @rule(
        holder=st.sampled_from(HOLDERS), which=st.sampled_from(["own", "other", "none", "forged"])
    )
    def release(self, holder: str, which: str) -> None:
        token = self._token_for(holder, which)
        current = self._current()
        try:
            status = self.lock.release(token)
        except LockForbidden:
            assert current is not None and token != current.token
            return
        assert status.held is False
        assert current is None or token == current.token
        self.model = None

    @rule()
    def force_release(self) -> None:
        assert self.lock.release(None, force=True).held is False
        self.model = None

    @rule(holder=st.sampled_from(HOLDERS), which=st.sampled_from(["own", "other", "none"]))
    def swap_gate(self, holder: str, which: str) -> None:
        token = self._token_for(holder, which)
        current = self._current()
        try:
            self.lock.ensure_swap_allowed(token)
        except Locked as err:
            assert current is not None and token != current.token
            assert err.status.holder == current.holder
            return
        assert current is None or token == current.token

    @rule(seconds=st.one_of(st.integers(0, 5), st.integers(100, 100_000)))
    def tick(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.now += seconds

    def _iso(self, offset: float) -> str:
        from datetime import timedelta

        from app.clock import isoformat

        start = ManualClock().now()
        return isoformat(start + timedelta(seconds=offset))

    @invariant()
    def status_matches_model(self) -> None:
        status = self.lock.status()
        current = self._current()
        if current is None:
            assert status.held is False
            assert not hasattr(status, "token")
        else:
            assert status.held is True
            assert status.holder == current.holder
            assert status.note == current.note
            assert status.expires_at == self._iso(current.expires_at)
            assert status.seconds_remaining == max(0, int(current.expires_at - self.now))


TestLockModel = LockMachine.TestCase
TestLockModel.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
