"""The captured real vLLM 0.32 (CPU) logs under ``tests/fixtures/vllm-0.32.0-cpu``, as the
lines ``docker logs`` delivers them.

Each captured line is ``<seconds since launch> <line>``. A line without the timestamp is a tqdm
redraw that vLLM wrote after a ``\\r`` on the same line (the capture split it there): it is
joined back to the line before, with the ``\\r``, as the SSH log stream would deliver it.
"""

from __future__ import annotations

import re
from pathlib import Path

CAPTURES = Path(__file__).parent / "fixtures" / "vllm-0.32.0-cpu"
_STAMPED = re.compile(r"^\s*(\d+\.\d+) ?(.*)$")


def timed_lines(name: str) -> list[tuple[float, str]]:
    """``(seconds since launch, raw line)`` for the capture ``name`` (e.g. ``startup-ok``)."""
    lines: list[tuple[float, str]] = []
    for raw in (CAPTURES / f"{name}.log").read_text(encoding="utf-8").split("\n"):
        stamped = _STAMPED.match(raw)
        if stamped:
            lines.append((float(stamped.group(1)), stamped.group(2)))
        elif raw and lines:
            at, before = lines[-1]
            lines[-1] = (at, before + "\r" + raw)
    return lines


def lines(name: str) -> list[str]:
    return [line for _, line in timed_lines(name)]


REJECTIONS = (
    "unrecognized-argument",
    "max-model-len-too-large",
    "unsupported-architecture",
    "truncated-safetensors",
)
