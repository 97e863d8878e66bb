"""A swap's progress milestones, all in one table: where each phase starts, and what the
loading vLLM's log proves on the way (``progress`` only grows; ``ready`` is 1.0)."""

from __future__ import annotations

import re

from app.swap.jobs import Phase

# Progress when a real swap enters each phase.
PHASE_START: dict[Phase, float] = {
    Phase.PREFLIGHT: 0.02,
    Phase.STOPPING: 0.1,
    Phase.LAUNCHING: 0.25,
    Phase.LOADING: 0.3,
    Phase.VERIFYING: 0.92,
    Phase.ROLLING_BACK: 0.0,  # progress stays where the failed swap left it
}
# Verifying: ``/v1/models`` lists the served name (the one-token completion comes next).
MODEL_LISTED = 0.96

# Log milestones of a loading vLLM: (pattern, progress reached when seen).
LOG_MILESTONES: list[tuple[re.Pattern[str], float]] = [
    (re.compile(r"Starting vLLM API server|vLLM API server version", re.I), 0.35),
    (re.compile(r"Loading (model )?weights|Loading safetensors", re.I), 0.45),
    (re.compile(r"Loading weights took|Model loading took", re.I), 0.7),
    (re.compile(r"(graph capturing|CUDA graphs|KV cache)", re.I), 0.8),
    (re.compile(r"Application startup complete", re.I), 0.9),
]
# "Loading safetensors checkpoint shards: 40%" moves progress between these two milestones.
SHARDS = re.compile(r"Loading safetensors checkpoint shards:\s+(\d+)%")
SHARDS_FROM, SHARDS_TO = 0.45, 0.7


def progress_for(line: str) -> float | None:
    """The progress a log line proves (the highest milestone it matches), or None."""
    shards = SHARDS.search(line)
    found = SHARDS_FROM + (SHARDS_TO - SHARDS_FROM) * int(shards.group(1)) / 100 if shards else None
    for pattern, progress in LOG_MILESTONES:
        if pattern.search(line):
            found = max(found or 0.0, progress)
    return found
