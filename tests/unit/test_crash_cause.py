"""Why a served model stopped answering, read from the head as the crash watchdog does, against
a scripted head whose log is the captured real vLLM 0.32 log of an engine killed after ready."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app.catalog.models import ModelDef
from app.cluster.ssh import CommandResult, SshError
from app.config import parse_config
from app.swap.crash_cause import inspect_crash
from app.swap.plan import SwapPlan
from tests.vllm_captures import CAPTURES

REAL_LOG = (CAPTURES / "engine-killed-after-ready.raw.log").read_text(encoding="utf-8")
REASON = "vLLM on spark1 crashed: EngineDeadError: EngineCore encountered an issue."
TOP_GONE = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 20:37 ? 00:00:00 sleep infinity\n"
TOP_RUNNING = TOP_GONE + "root 7 7 0 20:37 ? 00:00:00 bash -c vllm serve /models/tiny\n"
PLAN = SwapPlan(
    parse_config({"sparks": [{"name": "spark1", "host": "192.168.1.50"}]}, {}),
    ModelDef(key="tiny", repo="org/tiny"),
)


class ScriptedHead:
    """Answers ``docker top`` with ``top`` and each ``docker logs --tail N`` with the last N
    lines of the next log in ``logs`` (the last one repeats), as the real docker would."""

    def __init__(
        self, top: str, logs: list[str | SshError | None], *, on_stderr: bool = False
    ) -> None:
        self.top, self.logs, self.log_reads = top, logs, 0
        self.on_stderr = on_stderr  # a real engine replays lines written to stderr there

    async def run(
        self,
        node: str,
        command: str,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> CommandResult:
        if " top " in f" {command} ":
            return CommandResult(node, command, 0, self.top, "")
        log = self.logs[min(self.log_reads, len(self.logs) - 1)]
        self.log_reads += 1
        if isinstance(log, SshError):
            raise log
        if log is None:  # docker itself failed
            return CommandResult(node, command, 1, "", "Error response from daemon: busy\n")
        tail = re.search(r"--tail (\d+)", command)
        assert tail is not None, command
        text = "".join(log.splitlines(keepends=True)[-int(tail.group(1)) :])
        if self.on_stderr:
            return CommandResult(node, command, 0, "", text)
        return CommandResult(node, command, 0, text, "")

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the inspection reads, it does not follow")

    async def close(self) -> None:
        return None


def before_reason(log: str) -> str:
    """The real log as it stood before vLLM printed why its engine died."""
    return log[: log.index("(APIServer pid=22660) ERROR")]


async def inspect(head: ScriptedHead, settle_reads: int = 10) -> tuple[bool, str]:
    cause = await inspect_crash(head, PLAN, timeout_s=5, settle_reads=settle_reads, settle_step_s=0)
    return cause.dead, cause.sentence


async def test_the_real_engine_death_is_read_while_vllm_still_runs() -> None:
    assert await inspect(ScriptedHead(TOP_RUNNING, [REAL_LOG])) == (True, REASON)


async def test_the_reason_is_read_from_docker_s_stderr_too() -> None:
    # `docker logs` gives back on stderr what the container wrote there (tracebacks do).
    assert await inspect(ScriptedHead(TOP_GONE, [REAL_LOG], on_stderr=True)) == (True, REASON)


async def test_the_reason_is_found_past_the_probes_and_shutdown_that_follow_it() -> None:
    # 300 failed probes after the reason (a loaded machine's slow shutdown), then the real
    # shutdown and leak reports: a 200-line tail would miss it
    probes = '127.0.0.1:5 - "GET /health HTTP/1.1" 503 Service Unavailable\n' * 300
    at = REAL_LOG.index("INFO:     Shutting down")
    log = REAL_LOG[:at] + probes + REAL_LOG[at:]
    lines = log.splitlines()
    assert len(lines) - next(i for i, line in enumerate(lines) if "EngineDeadError" in line) > 300
    assert await inspect(ScriptedHead(TOP_GONE, [log])) == (True, REASON)


async def test_a_gone_vllm_whose_reason_lands_later_is_read_again_until_it_does() -> None:
    partial = before_reason(REAL_LOG)
    head = ScriptedHead(TOP_GONE, [partial, partial, partial, REAL_LOG])
    assert await inspect(head) == (True, REASON)
    assert head.log_reads == 4


async def test_a_failed_read_while_waiting_keeps_what_was_read() -> None:
    head = ScriptedHead(TOP_GONE, [REAL_LOG, SshError("spark1", "reset")])
    assert await inspect(head) == (True, REASON)
    partial = before_reason(REAL_LOG)
    head = ScriptedHead(TOP_GONE, [partial, None, SshError("spark1", "reset"), partial])
    dead, sentence = await inspect(head, settle_reads=3)
    assert dead and "without an error in its log" in sentence
    assert head.log_reads == 4  # the first read, then one per settle step, then it gives up


async def test_a_running_vllm_without_a_fatal_line_is_only_stalled() -> None:
    dead, sentence = await inspect(ScriptedHead(TOP_RUNNING, [before_reason(REAL_LOG)]))
    assert (dead, sentence) == (False, "Its health checks fail while vLLM still runs on spark1.")


async def test_an_unreachable_head_is_not_known_dead() -> None:
    head = ScriptedHead(TOP_RUNNING, [SshError("spark1", "connection refused")])
    dead, sentence = await inspect(head)
    assert not dead and sentence.startswith("Its health checks fail and spark1 cannot be asked")
