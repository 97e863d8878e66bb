"""What the engine reads in a loading vLLM's log: the line that says the API server is up,
the lines that mean it never will be, and the sentence inside a log line (progress milestones
are in ``app.swap.progress``)."""

from __future__ import annotations

import re

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
