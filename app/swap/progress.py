"""A swap's progress milestones, all in one table: where each phase starts, and what the
loading vLLM's log proves on the way (``progress`` only grows; ``ready`` is 1.0).

The log milestones are real vLLM 0.32 lines (checked against the captured logs in
``tests/fixtures/vllm-0.32.0-cpu``), matched on a line's message: ``log_signals.message``
removes the process tag and level/time/source prefix and keeps a tqdm bar's last redraw.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from app.swap.jobs import Phase
from app.swap.log_signals import message

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


class Milestone(NamedTuple):
    pattern: re.Pattern[str]
    progress: float
    vllm_line: str  # the real vLLM 0.32 line it is for


def _m(pattern: str, progress: float, vllm_line: str) -> Milestone:
    return Milestone(re.compile(pattern), progress, vllm_line)


# Log milestones of a loading vLLM, in the order a real start prints them.
LOG_MILESTONES = (
    _m(r"^\S.*\bversion \d+\.\d+", 0.33, "the banner: '█▄█▀ █ … version 0.32.0'"),
    _m(r"^non-default args:", 0.34, "non-default args: {'model_tag': …}"),
    _m(r"^Starting vLLM API server|^vLLM API server version", 0.34, "older vLLM's first line"),
    _m(r"^Initializing a V1 LLM engine", 0.38, "Initializing a V1 LLM engine (v0.32.0) …"),
    _m(r"^Starting to load model", 0.45, "Starting to load model /models/tiny..."),
    _m(r"^Loading weights took|^Model loading took", 0.68, "Loading weights took 0.01 seconds"),
    _m(
        r"^Warming up model|^Capturing CUDA graphs", 0.72, "Warming up model for the compilation..."
    ),
    _m(r"KV cache size", 0.8, "CPU KV cache size: 524,288 tokens, …"),
    _m(r"^init engine \(.*\) took", 0.84, "init engine (profile, create kv cache, …) took 6.16 s"),
    _m(r"^Starting vLLM server on", 0.87, "Starting vLLM server on http://0.0.0.0:18300"),
    _m(r"Application startup complete", 0.9, "INFO:     Application startup complete."),
)
# "Loading safetensors checkpoint shards: 40%" moves progress between these two milestones.
SHARDS = re.compile(r"^Loading safetensors checkpoint shards:\s+(\d+)%")
SHARDS_FROM, SHARDS_TO = 0.45, 0.66


def progress_for(line: str) -> float | None:
    """The progress a log line proves (the highest milestone it matches), or None."""
    text = message(line)
    shards = SHARDS.search(text)
    found = (
        SHARDS_FROM + (SHARDS_TO - SHARDS_FROM) * min(int(shards.group(1)), 100) / 100
        if shards
        else None
    )
    for milestone in LOG_MILESTONES:
        if milestone.pattern.search(text):
            found = max(found or 0.0, milestone.progress)
    return found
