"""A catalog change whose caller is cancelled (a client hanging up mid-request) still runs to
its end: the overrides file and the published catalog never disagree, and the next change is
written after it, not overtaken by it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.catalog.manager import CatalogManager
from app.catalog.models import Knobs
from app.catalog.overrides import load_overrides
from app.catalog.store import load_base_catalog
from app.clock import ManualClock
from tests.waits import wait_until


def stored_len(path: Path, key: str) -> int | None:
    knobs = load_overrides(str(path), ManualClock().now()).knobs.get(key)
    return knobs.max_model_len if knobs is not None else None


async def test_a_cancelled_knob_edit_lands_in_the_file_and_the_catalog_alike(
    tmp_path: Path,
) -> None:
    path = tmp_path / "overrides.yaml"
    manager = CatalogManager(load_base_catalog(""), str(path), clock=ManualClock())
    key = manager.snapshot().models[0].key

    def published_len() -> int | None:
        model = manager.snapshot().get(key)
        return model.knobs.max_model_len if model is not None else None

    edit = asyncio.create_task(manager.set_knobs(key, Knobs(max_model_len=1111)))
    await asyncio.sleep(0)  # one turn of the loop: the edit has begun
    edit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await edit
    await wait_until(lambda: stored_len(path, key) == 1111, "the file to hold the edit", 5)
    await wait_until(lambda: published_len() == 1111, "the catalog to publish the edit", 5)

    await manager.set_knobs(key, Knobs(max_model_len=2222))
    assert stored_len(path, key) == 2222 and published_len() == 2222
