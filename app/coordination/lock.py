"""The swap reservation lock: a TTL-bounded, in-memory reservation of the swap path.

Contract (coordination seed §1):
* ``acquire(holder, ttl, note, token)``: a free (or expired) lock is granted to ``holder`` with a
  fresh ``secrets.token_urlsafe`` token. The same holder presenting its token extends it: token
  and ``acquired_at`` are kept, ``expires_at = now + ttl``. A different holder gets
  :class:`LockConflict` (409, carrying the lock status); the same holder without the right token
  gets :class:`LockForbidden` (403) — a name is not a credential.
* ``release(token, force)``: releasing an unheld lock succeeds; a wrong token is
  :class:`LockForbidden`; ``force`` releases without a token (the dashboard's override).
* ``ensure_swap_allowed(token)``: what a real swap calls first; raises :class:`Locked` (423,
  carrying the lock status) when the lock is held and the token is missing or wrong.
* ``ttl_seconds`` is clamped to [1, 86400]; expiry is lazy (an expired lock is simply unlocked).
* Tokens are compared with ``hmac.compare_digest`` and never appear in ``status()``.

All methods are synchronous and never await, so no two callers interleave inside one operation
on the event loop: 50 concurrent acquirers get exactly one grant without an asyncio lock.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec

from app.clock import Clock, isoformat
from app.errors import Conflict, Forbidden, LockedOut

TTL_DEFAULT = 900
TTL_MIN = 1
TTL_MAX = 86400


class LockStatus(msgspec.Struct, omit_defaults=True, frozen=True):
    """What ``GET /api/swap/lock`` shows: ``{held: false}`` or the holder's public details."""

    held: bool
    holder: str | msgspec.UnsetType = msgspec.UNSET
    acquired_at: str | msgspec.UnsetType = msgspec.UNSET
    expires_at: str | msgspec.UnsetType = msgspec.UNSET
    seconds_remaining: int | msgspec.UnsetType = msgspec.UNSET
    note: str | msgspec.UnsetType | None = msgspec.UNSET


class LockGrant(msgspec.Struct, frozen=True):
    """The answer to a successful acquire or extend; the only place the token is ever shown."""

    held: bool
    holder: str
    acquired_at: str
    expires_at: str
    seconds_remaining: int
    note: str | None
    token: str

    def __repr__(self) -> str:
        return f"LockGrant(holder={self.holder!r}, expires_at={self.expires_at!r}, token=***)"


class LockConflict(Conflict):
    """Another holder holds an unexpired lock (the body carries the lock's status)."""

    def __init__(self, message: str, status: LockStatus) -> None:
        super().__init__(message)
        self.status = status

    def extra(self) -> dict[str, Any]:
        return {"lock": self.status}


class LockForbidden(Forbidden):
    """The token is missing or wrong for an operation that needs it."""

    def __init__(self, message: str, status: LockStatus) -> None:
        super().__init__(message)
        self.status = status


class Locked(LockedOut):
    """A real swap was attempted without the holder's token while the lock is held (the body
    carries the lock's status)."""

    def __init__(self, message: str, status: LockStatus) -> None:
        super().__init__(message)
        self.status = status

    def extra(self) -> dict[str, Any]:
        return {"lock": self.status}


class _Held(msgspec.Struct):
    holder: str
    token: str
    acquired_at: datetime
    expires_at: datetime
    note: str | None


def clamp_ttl(ttl_seconds: int | None) -> int:
    if ttl_seconds is None:
        return TTL_DEFAULT
    return max(TTL_MIN, min(TTL_MAX, int(ttl_seconds)))


def _token_matches(expected: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


class SwapLock:
    """The lock itself. ``on_change(status)`` is called after every acquire, extend, release or
    observed expiry (the app publishes it on the event bus)."""

    def __init__(self, clock: Clock, on_change: Callable[[LockStatus], None] | None = None):
        self._clock = clock
        self._held: _Held | None = None
        self._on_change = on_change
        # What the last change was ("acquired" | "extended" | "released" | "expired"), for
        # listeners that need more than the resulting status (the webhook's lock events).
        self.last_change = ""

    def _current(self) -> _Held | None:
        held = self._held
        if held is not None and self._clock.now() >= held.expires_at:
            self._held = None
            self._changed("expired")
            return None
        return held

    def _changed(self, change: str) -> None:
        self.last_change = change
        if self._on_change is not None:
            self._on_change(self.status())

    def _status_of(self, held: _Held | None) -> LockStatus:
        if held is None:
            return LockStatus(held=False)
        return LockStatus(
            held=True,
            holder=held.holder,
            acquired_at=isoformat(held.acquired_at),
            expires_at=isoformat(held.expires_at),
            seconds_remaining=self._seconds_remaining(held),
            note=held.note,
        )

    def _seconds_remaining(self, held: _Held) -> int:
        return max(0, math.ceil((held.expires_at - self._clock.now()).total_seconds()))

    def status(self) -> LockStatus:
        return self._status_of(self._current())

    def _grant(self, held: _Held) -> LockGrant:
        return LockGrant(
            held=True,
            holder=held.holder,
            acquired_at=isoformat(held.acquired_at),
            expires_at=isoformat(held.expires_at),
            seconds_remaining=self._seconds_remaining(held),
            note=held.note,
            token=held.token,
        )

    def acquire(
        self,
        holder: str,
        ttl_seconds: int | None = None,
        note: str | None = None,
        token: str | None = None,
    ) -> LockGrant:
        """Acquire a free lock or extend one's own; raises LockConflict / LockForbidden."""
        ttl = clamp_ttl(ttl_seconds)
        now = self._clock.now()
        current = self._current()
        change = "acquired" if current is None else "extended"
        if current is None:
            current = self._held = _Held(
                holder=holder,
                token=secrets.token_urlsafe(32),
                acquired_at=now,
                expires_at=now + timedelta(seconds=ttl),
                note=note,
            )
        elif current.holder != holder:
            raise LockConflict(
                f"The swap lock is held by {current.holder!r} until {isoformat(current.expires_at)}.",
                self._status_of(current),
            )
        elif not _token_matches(current.token, token):
            raise LockForbidden(
                "The swap lock is held under this holder name; extending it needs the lock token.",
                self._status_of(current),
            )
        else:
            current.expires_at = now + timedelta(seconds=ttl)
            if note is not None:
                current.note = note
        self._changed(change)
        return self._grant(current)

    def release(self, token: str | None = None, *, force: bool = False) -> LockStatus:
        """Release the lock; idempotent when unheld. Raises LockForbidden on a wrong token."""
        current = self._current()
        if current is None:
            return LockStatus(held=False)
        if not force and not _token_matches(current.token, token):
            raise LockForbidden(
                "That token does not match the swap lock; use force=true to override.",
                self._status_of(current),
            )
        self._held = None
        self._changed("released")
        return LockStatus(held=False)

    def ensure_swap_allowed(self, token: str | None) -> None:
        """Return if a real swap may start now; raise :class:`Locked` if the lock forbids it."""
        current = self._current()
        if current is None or _token_matches(current.token, token):
            return
        raise Locked(
            f"Swaps are locked by {current.holder!r} until {isoformat(current.expires_at)}; "
            "present the lock token to swap.",
            self._status_of(current),
        )
