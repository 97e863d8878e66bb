"""The swap engine's refusals and failures (the HTTP layer maps each to a status)."""

from __future__ import annotations


class UnknownModel(Exception):
    """No such model in the catalog (HTTP 404)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"No model with key {key!r} in the catalog.")


class SwapInProgress(Exception):
    """A real swap is already running (HTTP 409, with its job id)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"A swap is already running (job {job_id}); wait for it or cancel it.")
        self.job_id = job_id


class NotConfigured(Exception):
    """No Spark is configured yet (HTTP 409)."""

    def __init__(self) -> None:
        super().__init__("No Sparks are configured — run the Configure Sparks action first.")


class JobNotFound(Exception):
    """No such job in the bounded history (HTTP 404)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"No swap job with id {job_id!r}.")


class JobFinished(Exception):
    """The job already reached a terminal state (HTTP 409)."""

    def __init__(self, job_id: str, state: str) -> None:
        super().__init__(f"Swap job {job_id} has already finished ({state}).")


class SwapFailed(Exception):
    """Internal: ends a swap as ``failed`` with this sentence and returncode."""

    def __init__(self, message: str, returncode: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.returncode = returncode
