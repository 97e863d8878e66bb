"""Deleting a model's weights from the Sparks, and the rules that refuse it.

Refused (``WeightsInUse``, a conflict) for a local model (Spark Control never deletes a local
model directory), for the model the head serves or loads, and while a real swap runs (it may be
about to load them). An unknown key raises ``UnknownModel``.
"""

from __future__ import annotations

from app.catalog.disk import DiskDeletion, DiskScanner
from app.catalog.store import Catalog
from app.errors import Conflict, UnknownModel
from app.swap.running import ServedModel


class WeightsInUse(Conflict):
    """The weights cannot be deleted now (or ever, for a local model)."""


async def delete_weights(
    key: str, *, catalog: Catalog, served: ServedModel, disk: DiskScanner
) -> DiskDeletion:
    """Delete ``key``'s weights from every Spark's HF cache and report what each freed."""
    model = catalog.get(key)
    if model is None:
        raise UnknownModel(key)
    if model.local:
        raise WeightsInUse(
            f"{key!r} is a local model; Spark Control never deletes local model directories."
        )
    if served.current.occupies(key):
        raise WeightsInUse(f"{key!r} is the running model; swap to another model first.")
    if served.swapping:
        raise WeightsInUse("A swap is running; delete weights once it has finished.")
    return await disk.delete(model)
