"""What the engine reads in a loading vLLM's log: the line that says the API server is up, the
lines that mean it never will be, and the root cause among them (progress milestones are in
``app.swap.progress``).

Everything here is matched against the *message* of a line, after :func:`message` removed what
vLLM 0.32 puts in front of it: the process tag ``(APIServer pid=N)``, ``(EngineCore pid=N)``,
``(Worker pid=N)`` or ``(VllmWorker-0 pid=N)``, then ``LEVEL MM-DD HH:MM:SS [file.py:N]``. A
tqdm progress bar arrives as one "line" holding every redraw after a ``\\r``; only the last
redraw counts. The fatal table is checked against the captured real logs in
``tests/fixtures/vllm-0.32.0-cpu``.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

# vLLM's log prefix: "(EngineCore pid=8296) ERROR 12-01 13:29:30 [core.py:1510] ".
LOG_PREFIX = re.compile(
    r"^\s*(?:\([\w.-]+ pid=\d+\)\s*)?"
    r"(?:(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+\d\d-\d\d\s+[\d:.]+\s+\[[^\]]*\]\s?)?"
)
MAX_CAUSE_CHARS = 300


def last_redraw(line: str) -> str:
    """What a terminal would show of a line a progress bar rewrote with ``\\r``."""
    if "\r" not in line:
        return line
    redraws = [part for part in line.split("\r") if part.strip()]
    return redraws[-1] if redraws else ""


def message(line: str) -> str:
    """A log line as a person reads it: the last ``\\r`` redraw, without vLLM's prefix."""
    return LOG_PREFIX.sub("", last_redraw(line), count=1).strip()


STARTUP_COMPLETE = re.compile(r"Application startup complete", re.I)

# --- fatal lines -------------------------------------------------------------------------------

Kind = Literal["refused", "failed", "crashed"]


class Fatal(NamedTuple):
    """One kind of line after which vLLM will not serve.

    ``rank``: lower is closer to the root cause; the lowest-ranked line seen (the first of
    equals) names the cause. ``decisive``: the line alone ends a load (vLLM is on its way out);
    other lines only name a cause once the process is gone. ``cause`` is the named group quoted
    in the error sentence (the whole message without it)."""

    pattern: re.Pattern[str]
    kind: Kind
    rank: int
    decisive: bool
    vllm_message: str  # the line real vLLM prints that this entry is for


def _f(pattern: str, kind: Kind, rank: int, decisive: bool, vllm_message: str) -> Fatal:
    return Fatal(re.compile(pattern), kind, rank, decisive, vllm_message)


# Checked in this order; the first entry that matches a line classifies it.
FATAL_LINES = (
    _f(
        r"^vllm(?: serve)?: error: (?P<cause>.+)",
        "refused",
        0,
        True,
        "vllm: error: unrecognized arguments: --no-such-flag (argparse, exit 2)",
    ),
    _f(
        r"^Value error, (?P<cause>.+?)(?: \[type=|$)",
        "refused",
        0,
        True,
        "Value error, User-specified max_model_len (100000) is greater than the derived "
        "max_model_len … / Model architectures ['X'] are not supported for now. (pydantic)",
    ),
    _f(
        r"(?P<cause>Model architectures \[.*?\] are not supported[^.]*)",
        "refused",
        0,
        True,
        "Model architectures ['NoSuchArchForCausalLM'] are not supported for now.",
    ),
    _f(
        r"ValidationError: (?P<cause>\d+ validation errors? for \w+)",
        "refused",
        1,
        True,
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig",
    ),
    _f(
        r"(?P<cause>error while attempting to bind on address .+)",
        "refused",
        0,
        True,
        "[Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): address "
        "already in use",
    ),
    _f(
        r"(?P<cause>SafetensorError: .+)",
        "failed",
        0,
        False,
        "safetensors._safetensors_rust.SafetensorError: Error while deserializing header: "
        "invalid header length (then EngineCore failed to start)",
    ),
    _f(
        r"(?P<cause>(?:torch\.)?OutOfMemoryError: .+|CUDA out of memory.*)",
        "failed",
        0,
        True,
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate …",
    ),
    _f(
        r"Error response from daemon: (?P<cause>.+)",
        "failed",
        1,
        True,
        "docker: Error response from daemon: … (the container could not run vLLM)",
    ),
    _f(
        r"^(?:[A-Za-z_]\w*\.)*(?P<cause>EngineDeadError: .+)",
        "crashed",
        4,
        True,
        "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. See "
        "stack trace (above) for the root cause.",
    ),
    _f(
        r"(?P<cause>EngineCore encountered (?:an issue|a fatal error)[^.]*)",
        "crashed",
        4,
        True,
        "EngineCore encountered a fatal error.",
    ),
    _f(
        r"(?P<cause>EngineCore failed to start)",
        "failed",
        5,
        True,
        "EngineCore failed to start.",
    ),
    _f(
        r"(?P<cause>Engine core initialization failed)",
        "failed",
        5,
        True,
        "RuntimeError: Engine core initialization failed. See root cause above. Failed core "
        "proc(s): {'EngineCore': 1}",
    ),
    _f(
        r"(?P<cause>Engine process failed to start)",
        "failed",
        5,
        True,
        "Engine process failed to start. See stack trace for the root cause.",
    ),
    _f(
        r"No such file or directory: (?P<cause>.*config\.json.*)",
        "failed",
        1,
        True,
        "[Errno 2] No such file or directory: '/models/x/config.json'",
    ),
    _f(
        # The last line of any traceback: "pkg.mod.SomeError: message".
        r"^(?:[A-Za-z_]\w*\.)*(?P<cause>[A-Z]\w*(?:Error|Exception): .+)",
        "failed",
        3,
        False,
        "the last line of a Python traceback (e.g. OSError: … does not appear to have a file "
        "named config.json)",
    ),
    _f(
        r"^(?P<cause>Traceback \(most recent call last\)):?",
        "failed",
        9,
        False,
        "Traceback (most recent call last):",
    ),
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


class Finding(NamedTuple):
    fatal: Fatal
    cause: str


def classify(line: str) -> Finding | None:
    """The fatal-table entry a log line matches, with the cause it quotes; None for others."""
    text = message(line)
    if not text:
        return None
    for fatal in FATAL_LINES:
        found = fatal.pattern.search(text)
        if found:
            return Finding(fatal, _first_sentence(found.group("cause") or text))
    return None


def _first_sentence(text: str) -> str:
    """The first sentence of a cause, clipped: vLLM appends advice and whole architecture
    lists to its reasons."""
    sentence = _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
    if len(sentence) > MAX_CAUSE_CHARS:
        sentence = sentence[: MAX_CAUSE_CHARS - 1].rstrip() + "…"
    return sentence


class Diagnosis:
    """Reads a vLLM log line by line and keeps the root cause of its failure, if any.

    ``decisive`` turns true at the first line after which vLLM will not serve; ``cause`` is
    the best-ranked finding so far (a root cause printed before its consequences wins)."""

    def __init__(self) -> None:
        self.decisive = False
        self.best: Finding | None = None

    def observe(self, line: str) -> Finding | None:
        finding = classify(line)
        if finding is None:
            return None
        if finding.fatal.decisive:
            self.decisive = True
        if self.best is None or finding.fatal.rank < self.best.fatal.rank:
            self.best = finding
        return finding

    def sentence(self, head: str, *, exited: bool, after_ready: bool = False) -> str:
        """The one-sentence error for a launch that ended: quotes the root cause."""
        best = self.best
        if best is None:
            if after_ready:
                return f"vLLM on {head} stopped right after loading without an error in its log."
            return (
                f"vLLM on {head} exited while loading without an error in its log; "
                "see the log tail."
                if exited
                else f"vLLM on {head} stopped loading without an error in its log."
            )
        if best.fatal.kind == "refused":
            return f"vLLM refused the launch: {best.cause}"
        if after_ready or best.fatal.kind == "crashed":
            return f"vLLM on {head} crashed: {best.cause}"
        return f"vLLM on {head} failed while loading: {best.cause}"
