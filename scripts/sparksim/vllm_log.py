"""How the fake vLLM writes its log: real vLLM 0.32's format, lines and pacing.

Every vLLM line is ``(<Process> pid=<N>) LEVEL MM-DD HH:MM:SS [file.py:N] message`` where the
process is ``APIServer``, ``EngineCore`` or ``Worker``/``VllmWorker-0``; uvicorn writes
``INFO:     …``; tqdm redraws its bar after a ``\\r`` and ends it with a newline; Python writes
tracebacks without a prefix. ``PACE`` places each step at the fraction of a start that the
captured real start (tests/fixtures/vllm-0.32.0-cpu/startup-ok.log, ready at 24.6 s) reached it,
so the simulator's load time scales the whole start. Stdlib only.
"""

from __future__ import annotations

import os
import sys
import time

READY_AT_S = 24.6  # the captured start: "Application startup complete." 24.6 s after launch
PACE = {
    "imported": 5.15 / READY_AT_S,  # "Triton is installed…", then the CLI parses its arguments
    "args": 6.41 / READY_AT_S,  # banner, non-default args, config validation
    "engine": 10.8 / READY_AT_S,  # EngineCore starts
    "worker": 16.8 / READY_AT_S,  # the worker starts loading weights
    "weights": 16.9 / READY_AT_S,  # weights loaded
    "kv_cache": 23.25 / READY_AT_S,
    "serving": 24.26 / READY_AT_S,  # "Starting vLLM server on …", uvicorn starts
    "ready": 1.0,
}
BANNER = (
    "",
    "       █     █     █▄   ▄█",
    " ▄▄ ▄█ █     █     █ ▀▄▀ █  version {version}",
    "  █▄█▀ █     █     █     █  model   {model}",
    "   ▀▀  ▀▀▀▀▀ ▀▀▀▀▀ ▀     ▀",
    "",
)
VERSION = "0.32.0"


class VllmLog:
    """Writes one engine's log on stdout (the container log). Pids: the API server is this
    process; the engine core and worker get the next numbers, as real children would."""

    def __init__(self) -> None:
        pid = os.getpid()
        self.pids = {"APIServer": pid, "EngineCore": pid + 1, "Worker": pid + 2}

    def line(self, process: str, level: str, where: str, message: str) -> None:
        pid = self.pids["Worker" if process.startswith(("Worker", "VllmWorker")) else process]
        stamp = time.strftime("%m-%d %H:%M:%S")
        self.raw(f"({process} pid={pid}) {level} {stamp} [{where}] {message}")

    def raw(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def progress_bar(self, label: str, done: int, total: int, final: bool) -> None:
        """One tqdm redraw: ``\\r`` then the bar; the last one ends the line."""
        percent = 100 * done // total
        rate = "?it/s" if done == 0 else f"{done / 0.01:.2f}it/s"
        sys.stdout.write(
            f"\r{label}: {percent:3d}% Completed | {done}/{total} [00:00<00:00, {rate}]"
            + ("\n" if final else "")
        )
        sys.stdout.flush()

    def banner(self, model: str) -> None:
        for text in BANNER:
            self.line(
                "APIServer", "INFO", "api_utils.py:347", text.format(version=VERSION, model=model)
            )

    def traceback(
        self, frames: list[tuple[str, int, str, str]], final: str, prefix: str = ""
    ) -> None:
        """A Python traceback (``prefix`` is a vLLM log prefix when a logger printed it)."""
        lines = ["Traceback (most recent call last):"]
        for path, number, function, code in frames:
            lines += [f'  File "{path}", line {number}, in {function}', f"    {code}"]
        lines.append(final)
        for text in lines:
            self.raw(prefix + text)
