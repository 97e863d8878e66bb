"""The swap engine's waits, in one place so tests and benchmarks can shorten them."""

from __future__ import annotations

import msgspec


class Timings(msgspec.Struct, frozen=True):
    """How long the engine waits for what; tests shorten them."""

    command_timeout_s: float = 30.0
    stop_timeout_s: float = 180.0
    launch_timeout_s: float = 300.0
    health_poll_s: float = 0.2
    http_timeout_s: float = 5.0
    verify_timeout_s: float = 60.0
    gpu_poll_s: float = 0.5
    gpu_release_timeout_s: float = 120.0
    gpu_free_threshold_mib: float = 10240.0
    cleanup_timeout_s: float = 60.0
    # While vLLM loads: how often the head container's processes are listed (an exit is
    # noticed within this, plus one SSH round trip), how long a decisive fatal log line waits
    # for the rest of vLLM's reason (and its exit), and how long an exit waits for the last
    # log lines to arrive.
    exit_poll_s: float = 1.0
    fatal_grace_s: float = 1.0
    exit_log_grace_s: float = 0.5
