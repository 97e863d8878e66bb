"""What swap-on-request (``app.proxy.admission``) asks of the engine, the lock and the catalog.

Implements the admission's ``SwapControl``; every method is synchronous and never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app.catalog.store import Catalog
from app.coordination.lock import SwapLock
from app.errors import UserError
from app.swap.jobs import Origin
from app.swap.running import ModelState, ServedModel

if TYPE_CHECKING:
    from app.swap.engine import SwapEngine


class EngineSwapControl:
    def __init__(
        self,
        engine: SwapEngine,
        served: ServedModel,
        lock: SwapLock,
        catalog: Callable[[], Catalog],
    ) -> None:
        self._engine = engine
        self._served = served
        self._lock = lock
        self._catalog = catalog

    def served_key(self) -> str | None:
        """The key of the model the head serves or is bringing up; None when it serves
        nothing (stopped, failed) or a model the catalog does not know."""
        current = self._served.current
        return current.key if current.state in (ModelState.READY, ModelState.LOADING) else None

    def key_for(self, model: str) -> str | None:
        catalog = self._catalog()
        found = catalog.get(model) or catalog.by_served_name(model)
        return found.key if found is not None else None

    def lock_holder(self) -> str | None:
        status = self._lock.status()
        return status.holder if status.held and isinstance(status.holder, str) else None

    def start_swap(self, model_key: str, client: str) -> str | None:
        try:
            self._engine.start(model_key, origin=Origin(kind="swap_on_request", client=client))
        except UserError as err:  # locked, a swap already runs, not configured, unknown
            return err.message
        return None
