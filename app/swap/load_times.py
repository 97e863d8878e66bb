"""How long swaps to a model took recently, from the engine's in-memory job history, and
from the history database's median when this run has not swapped to the model yet.

Implements the proxy admission's ``LoadTimes`` (``app.proxy.admission``): the ``Retry-After``
of a request refused during a swap is estimated from these. The persistent swap statistics
can stand in for it with the same method.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.swap.jobs import JobHistory, JobState


class JobLoadTimes:
    def __init__(self, history: JobHistory, persisted: Mapping[str, float] | None = None) -> None:
        self._history = history
        # model key -> median seconds of its swaps in the history database (kept current by
        # the runtime); read only when this run has no finished swap to the model.
        self._persisted = persisted if persisted is not None else {}

    def recent_load_seconds(self, model_key: str, limit: int) -> list[float]:
        """Seconds from start to ready of the last ``limit`` real swaps to ``model_key`` that
        reached ready, newest first (failed and cancelled swaps say nothing about it)."""
        found: list[float] = []
        for job in self._history.newest_first():
            if len(found) >= limit:
                break
            if (
                job.model_key == model_key
                and job.state == JobState.READY
                and not job.dry_run
                and job.finished_mono is not None
            ):
                found.append(job.finished_mono - job.started_mono)
        if not found and model_key in self._persisted:
            return [self._persisted[model_key]]
        return found
