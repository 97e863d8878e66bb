"""Changing the catalog: add a user model, edit knobs, remove a user model.

Readers call :meth:`CatalogManager.snapshot` and get an immutable :class:`Catalog`. Every
mutation runs under one asyncio lock: it builds the new overrides and the new snapshot, writes
the overrides file atomically, and only then publishes the snapshot. If the write fails nothing
changes (the caller gets :class:`OverridesUnavailable`, HTTP 409).

A mutation that has started runs to its end even if its caller is cancelled (a client that
hangs up mid-request): the file is written by a thread that a cancellation cannot stop, so a
cancelled mutation would leave the file changed, the snapshot not, and the lock released while
the write still runs (a later change's write could then land first and be overwritten).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import msgspec

from app.catalog.models import Knobs, ModelDef
from app.catalog.overrides import Overrides, OverridesCorrupt, load_overrides, save_overrides
from app.catalog.store import Catalog, apply_overrides
from app.clock import Clock
from app.errors import Conflict, UnknownModel

log = logging.getLogger("spark_control.catalog")


class OverridesUnavailable(Conflict):
    """No overrides file is configured, or it cannot be written."""


class DuplicateModel(Conflict):
    """A model with this key already exists."""


class ProtectedModel(Conflict):
    """Bundled catalog models cannot be removed (their knobs can be edited)."""


T = TypeVar("T")


class CatalogManager:
    def __init__(
        self,
        base: tuple[ModelDef, ...],
        overrides_path: str,
        *,
        clock: Clock,
        on_change: Callable[[str, str], None] | None = None,
    ) -> None:
        """``on_change(action, key)`` is called after each published change."""
        self._base = base
        self._path = overrides_path
        self._on_change = on_change
        self._lock = asyncio.Lock()
        self._changes: set[asyncio.Future[Any]] = set()  # running on after their caller left
        self.warnings: list[str] = []
        try:
            self._overrides = load_overrides(overrides_path, clock.now())
        except OverridesCorrupt as err:
            kept = f"; it was kept as {err.moved_to}" if err.moved_to else ""
            self.warnings.append(f"models: {err}{kept}. Started with the bundled catalog.")
            log.warning("models: %s%s", err, kept)
            self._overrides = Overrides()
        self._snapshot = apply_overrides(base, self._overrides)

    def snapshot(self) -> Catalog:
        """The current catalog (immutable; safe to hold across awaits)."""
        return self._snapshot

    @property
    def overrides(self) -> Overrides:
        return self._overrides

    def _base_keys(self) -> set[str]:
        return {m.key for m in self._base}

    async def _commit(self, overrides: Overrides, action: str, key: str) -> Catalog:
        """Write ``overrides`` atomically, then publish the snapshot built from them."""
        if not self._path:
            raise OverridesUnavailable(
                "Model changes are saved in the overrides file, and none is configured "
                "(set models.overrides_file or MODELS_OVERRIDES)."
            )
        snapshot = apply_overrides(self._base, overrides)
        try:
            await asyncio.to_thread(save_overrides, self._path, overrides)
        except OSError as err:
            raise OverridesUnavailable(
                f"The overrides file {self._path} is not writable ({err.strerror or type(err).__name__}); "
                "nothing was changed."
            ) from None
        self._overrides = overrides
        self._snapshot = snapshot
        if self._on_change is not None:
            self._on_change(action, key)
        return snapshot

    async def _to_the_end(self, change: Coroutine[object, object, T]) -> T:
        """Run ``change`` to its end whatever happens to the caller (see the module docstring);
        the task is kept referenced until then."""
        task = asyncio.ensure_future(change)
        self._changes.add(task)
        task.add_done_callback(self._changes.discard)
        return await asyncio.shield(task)

    async def add(self, model: ModelDef) -> ModelDef:
        """Add a user model; raises DuplicateModel / OverridesUnavailable."""
        return await self._to_the_end(self._add(model))

    async def set_knobs(self, key: str, knobs: Knobs) -> ModelDef:
        """Replace a model's knobs (user or catalog model)."""
        return await self._to_the_end(self._set_knobs(key, knobs))

    async def remove(self, key: str) -> None:
        """Remove a user model; catalog models raise ProtectedModel."""
        await self._to_the_end(self._remove(key))

    async def _add(self, model: ModelDef) -> ModelDef:
        async with self._lock:
            if self._snapshot.get(model.key) is not None:
                raise DuplicateModel(f"A model with key {model.key!r} already exists.")
            overrides = msgspec.structs.replace(
                self._overrides, models=(*self._overrides.models, model)
            )
            await self._commit(overrides, "added", model.key)
            return model

    async def _set_knobs(self, key: str, knobs: Knobs) -> ModelDef:
        async with self._lock:
            if self._snapshot.get(key) is None:
                raise UnknownModel(key)
            if key in self._base_keys():
                overrides = msgspec.structs.replace(
                    self._overrides, knobs={**self._overrides.knobs, key: knobs}
                )
            else:
                models = tuple(
                    msgspec.structs.replace(m, knobs=knobs) if m.key == key else m
                    for m in self._overrides.models
                )
                overrides = msgspec.structs.replace(self._overrides, models=models)
            snapshot = await self._commit(overrides, "knobs", key)
            model = snapshot.get(key)
            if model is None:  # cannot happen: changes are serialised and the key was found
                raise UnknownModel(key)
            return model

    async def _remove(self, key: str) -> None:
        async with self._lock:
            if self._snapshot.get(key) is None:
                raise UnknownModel(key)
            if key in self._base_keys():
                raise ProtectedModel(
                    f"{key!r} comes from the bundled catalog and cannot be removed; you can edit its knobs."
                )
            models = tuple(m for m in self._overrides.models if m.key != key)
            await self._commit(
                msgspec.structs.replace(self._overrides, models=models), "removed", key
            )
