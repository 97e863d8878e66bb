"""What the engine reads in a loading vLLM's log: progress milestones, the line that says the
API server is up, the lines that mean it never will be, and the sentence inside a log line."""

from __future__ import annotations

import re

# Log milestones of a loading vLLM: (pattern, progress reached when seen).
MILESTONES = [
    (re.compile(r"Starting vLLM API server|vLLM API server version", re.I), 0.35),
    (re.compile(r"Loading (model )?weights|Loading safetensors", re.I), 0.45),
    (re.compile(r"Loading weights took|Model loading took", re.I), 0.7),
    (re.compile(r"(graph capturing|CUDA graphs|KV cache)", re.I), 0.8),
    (re.compile(r"Application startup complete", re.I), 0.9),
]
SHARDS = re.compile(r"Loading safetensors checkpoint shards:\s+(\d+)%")
# vLLM's log prefix: "ERROR 06-17 12:00:00 [core.py:708] " (level, date, time, source).
LOG_PREFIX = re.compile(
    r"^\s*(?:\(\w+ pid=\d+\)\s*)?(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+\S+\s+\S+\s+\[[^\]]*\]\s*"
)


def message(line: str) -> str:
    """A log line without vLLM's level/timestamp/source prefix, for error sentences."""
    return LOG_PREFIX.sub("", line).strip()


STARTUP_COMPLETE = re.compile(r"Application startup complete", re.I)
# Lines after which a loading vLLM will never become healthy: fail now, not at the timeout.
FATAL = re.compile(
    r"EngineCore encountered a fatal error|CUDA out of memory|torch\.OutOfMemoryError|"
    r"ValueError: .*(not enough|exceeds|larger than)|Engine process failed to start|"
    r"EngineCore failed to start|Engine core initialization failed|"
    r"No such file or directory: .*config\.json|Error response from daemon",
    re.I,
)


def progress_for(line: str) -> float | None:
    """The progress a log line proves (the highest milestone it matches), or None."""
    shards = SHARDS.search(line)
    found = 0.45 + 0.25 * int(shards.group(1)) / 100 if shards else None
    for pattern, progress in MILESTONES:
        if pattern.search(line):
            found = max(found or 0.0, progress)
    return found
