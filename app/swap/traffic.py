"""What the swap engine tells the proxy's admission about a swap, and what it learns back.

The engine depends on this small interface only (the proxy's :class:`~app.proxy.admission.
SwapGate` implements it), so a swap can drain and hold client traffic without the swap package
knowing HTTP. Every method is called on the event loop; none raises.
"""

from __future__ import annotations

from typing import Protocol

import msgspec


class DrainResult(msgspec.Struct, frozen=True):
    """How the requests in flight when the drain began ended: finished by themselves, or cut."""

    drained: int
    cut: int


class Traffic(Protocol):
    def swap_started(self, model_key: str) -> None:
        """A real swap towards ``model_key`` began (or a rollback towards it): stop admitting
        requests to the served model; requests for ``model_key`` may wait for it."""
        ...

    async def drain(self, timeout_s: float) -> DrainResult:
        """Wait up to ``timeout_s`` for the requests in flight to finish, then cut the rest
        (each client gets an error it can read). Returns once every request has ended."""
        ...

    def swap_ended(self, ready: bool, reason: str | None = None) -> None:
        """The swap is over: ``ready`` releases the waiting requests to the new model; else
        they are answered 503 with ``reason``."""
        ...

    def requests_in_flight(self) -> int:
        """Requests to the served model that have not finished."""
        ...


class NoTraffic:
    """:class:`Traffic` for an engine without a proxy in front (scripts, unit tests)."""

    def swap_started(self, model_key: str) -> None:
        return None

    async def drain(self, timeout_s: float) -> DrainResult:
        return DrainResult(0, 0)

    def swap_ended(self, ready: bool, reason: str | None = None) -> None:
        return None

    def requests_in_flight(self) -> int:
        return 0
