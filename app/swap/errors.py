"""The swap engine's refusals (kinds from ``app.errors``) and its internal failure."""

from __future__ import annotations

from typing import Any

from app.errors import Conflict, NotConfigured, NotFound, UnknownModel

__all__ = [
    "JobFinished",
    "JobNotFound",
    "NotConfigured",
    "SwapFailed",
    "SwapInProgress",
    "UnknownModel",
]


class SwapInProgress(Conflict):
    """A real swap is already running (the body carries its job id)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"A swap is already running (job {job_id}); wait for it or cancel it.")
        self.job_id = job_id

    def extra(self) -> dict[str, Any]:
        return {"job_id": self.job_id}


class JobNotFound(NotFound):
    """No such job in the bounded history."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"No swap job with id {job_id!r}.")


class JobFinished(Conflict):
    """The job already reached a terminal state."""

    def __init__(self, job_id: str, state: str) -> None:
        super().__init__(f"Swap job {job_id} has already finished ({state}).")


class SwapFailed(Exception):
    """Internal: ends a swap as ``failed`` with this sentence and returncode."""

    def __init__(self, message: str, returncode: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.returncode = returncode
