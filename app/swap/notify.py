"""The webhook payload of a finished real swap (dry runs never notify)."""

from __future__ import annotations

from typing import Literal

import msgspec

from app.coordination.webhook import SwapEvent
from app.swap.jobs import JobRecord

SwapOutcome = Literal["swap_complete", "swap_failed"]


def swap_event(job: JobRecord, event: SwapOutcome, *, reason: str | None = None) -> SwapEvent:
    """``swap_complete`` for a job that ended ``ready``, ``swap_failed`` for one that failed or
    was cancelled. A cancelled swap, or one a shutdown interrupted, is reported with the seed's
    ``state: "failed"`` plus ``reason``."""
    view = job.view()
    return SwapEvent(
        event=event,
        job_id=view.job_id,
        model_key=view.model_key,
        state="ready" if event == "swap_complete" else "failed",
        returncode=view.returncode,
        started_at=view.started_at,
        finished_at=view.finished_at or view.started_at,
        dry_run=view.dry_run,
        rolled_back_to=job.rolled_back_to or msgspec.UNSET,
        reason=reason if reason is not None else msgspec.UNSET,
    )
