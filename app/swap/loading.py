"""Watching a launched vLLM until it serves or gives up: :class:`LoadWatch`.

While a swap is ``loading`` (and ``verifying``), two tasks run beside the health poll:

* the head container's log is streamed into the job (``docker logs -f``): each line may move
  the progress bar (``progress.LOG_MILESTONES``), say the API server is up, or be one of
  ``log_signals.FATAL_LINES``; the stream *ending* means the container stopped;
* every ``Timings.exit_poll_s`` the container's processes are listed (``docker top``): when no
  ``vllm serve`` process (or vLLM's ``VLLM::`` worker titles) is left, vLLM has exited. This is
  needed because spark-vllm-docker runs vLLM with ``docker exec`` in a container that idles on
  ``sleep infinity``: the container, and its log stream, outlive vLLM.

:meth:`LoadWatch.failure` turns what was seen into the swap's one error sentence, quoting
vLLM's root cause. Both tasks stop when the watch's context exits; an SSH error inside them only
ends that task (the health poll and the load timeout still bound the swap).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from types import TracebackType

from app.clock import Clock
from app.cluster.ssh import CommandResult, SshError, SshTransport
from app.swap import log_signals as signals
from app.swap.jobs import JobRecord
from app.swap.plan import SwapPlan
from app.swap.progress import progress_for
from app.swap.settings import Timings

# A process of a running vLLM in `docker top` output: the CLI ("… vllm serve …", also inside
# the `bash -c` that `docker exec -d` runs) or the titles vLLM gives its engine and workers.
VLLM_PROCESS = re.compile(r"\bvllm\s+serve\b|\bVLLM::")
# docker's answers when the container itself is gone or stopped.
CONTAINER_GONE = re.compile(r"No such container|is not running", re.I)


def vllm_gone(top: CommandResult) -> bool:
    """Whether ``docker top``'s answer says vLLM no longer runs: no vLLM process listed, or
    the container itself gone or stopped."""
    if top.ok:
        return not VLLM_PROCESS.search(top.stdout)
    return bool(CONTAINER_GONE.search(top.stderr + top.stdout))


class LoadWatch:
    """Follows the head's vLLM for one swap; use as ``async with LoadWatch(...) as watch``.

    ``started`` is set at each "Application startup complete" line (the health poll checks at
    once), ``changed`` at a decisive fatal line or the exit (the load loop re-evaluates);
    ``exited`` says vLLM's process (or the container) is gone."""

    def __init__(
        self, ssh: SshTransport, plan: SwapPlan, job: JobRecord, timings: Timings, clock: Clock
    ) -> None:
        self._ssh, self._plan, self._job = ssh, plan, job
        self._timings, self._clock = timings, clock
        self.diagnosis = signals.Diagnosis()
        self.started = asyncio.Event()
        self.changed = asyncio.Event()
        self.exited = False
        self.exited_at: float | None = None
        self.decisive_at: float | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> LoadWatch:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._follow()), loop.create_task(self._poll_processes())]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- verdicts ---------------------------------------------------------------------------

    def failure(self, *, after_ready: bool = False) -> str | None:
        """The error sentence when the load is over, else None. Over: vLLM exited (after
        ``exit_log_grace_s`` for its last lines, unless a decisive line already came), or a
        decisive line is ``fatal_grace_s`` old (vLLM lingers after its reason)."""
        now = self._clock.monotonic()
        head = self._plan.head
        t = self._timings
        if self.exited and self.exited_at is not None:
            if self.diagnosis.decisive or now - self.exited_at >= t.exit_log_grace_s:
                return self.diagnosis.sentence(head, exited=True, after_ready=after_ready)
        if self.decisive_at is not None and now - self.decisive_at >= t.fatal_grace_s:
            return self.diagnosis.sentence(head, exited=self.exited, after_ready=after_ready)
        return None

    def crash_sentence(self) -> str:
        """The error for a vLLM that died after (or while) answering healthy."""
        return self.diagnosis.sentence(self._plan.head, exited=self.exited, after_ready=True)

    def next_check_in(self) -> float | None:
        """Seconds until :meth:`failure` may change without a new event (a grace running)."""
        now = self._clock.monotonic()
        waits = []
        if self.exited_at is not None:
            waits.append(self._timings.exit_log_grace_s - (now - self.exited_at))
        if self.decisive_at is not None:
            waits.append(self._timings.fatal_grace_s - (now - self.decisive_at))
        return max(0.0, min(waits)) if waits else None

    # --- the two watchers -------------------------------------------------------------------

    def _mark_exited(self) -> None:
        if not self.exited:
            self.exited = True
            self.exited_at = self._clock.monotonic()
            self.changed.set()

    async def _follow(self) -> None:
        job, plan = self._job, self._plan
        with contextlib.suppress(SshError):
            async with self._ssh.stream(plan.head, plan.logs(tail=200, follow=True)) as lines:
                async for line in lines:
                    job.log(plan.head, signals.last_redraw(line))
                    finding = self.diagnosis.observe(line)
                    if finding is not None and finding.fatal.decisive and self.decisive_at is None:
                        self.decisive_at = self._clock.monotonic()
                        self.changed.set()
                    if signals.STARTUP_COMPLETE.search(line):
                        self.started.set()
                    progress = progress_for(line)
                    if progress is not None:
                        job.advance(progress)
            # `docker logs -f` returns when the container stops (or never existed): vLLM with it.
            self._mark_exited()

    async def _poll_processes(self) -> None:
        t, plan = self._timings, self._plan
        while not self.exited:
            with contextlib.suppress(SshError):
                result = await self._ssh.run(
                    plan.head, plan.processes(), timeout=t.command_timeout_s
                )
                if vllm_gone(result):
                    self._mark_exited()
            if not self.exited:
                await asyncio.sleep(t.exit_poll_s)
