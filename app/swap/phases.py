"""The phases of a real swap, each run in order by the engine: ``preflight`` → ``stopping`` →
``launching`` → ``loading`` → ``verifying``.

Every runner raises :class:`~app.swap.errors.SwapFailed` (one sentence, a returncode) or
:class:`~app.cluster.ssh.SshError`, and returns normally when its phase succeeded. Every wait is
bounded (``Timings`` and the config's load timeout). The served model is written here as the
cluster changes: ``stopped`` on entering ``stopping``, ``loading`` on entering ``launching``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import httpx

from app.clock import Clock
from app.cluster.ssh import SshError, SshTransport
from app.config import Config
from app.events import EventBus
from app.services import vllm
from app.swap import log_signals as signals
from app.swap.errors import NotConfigured, SwapFailed
from app.swap.jobs import JobRecord, Phase
from app.swap.plan import SwapPlan
from app.swap.preflight import blocking_failures, run_checks
from app.swap.progress import MODEL_LISTED, PHASE_START, progress_for
from app.swap.running import ModelState, ServedModel
from app.swap.settings import Timings
from app.swap.stopping import ClusterStopper
from app.swap.traffic import NoTraffic, Traffic

log = logging.getLogger("spark_control.swap")

PhaseListener = Callable[[JobRecord, Phase], None]


class PhaseRunner:
    """Runs the phases of one real swap at a time against the cluster."""

    def __init__(
        self,
        config: Config,
        *,
        ssh: SshTransport,
        http: httpx.AsyncClient,
        served: ServedModel,
        events: EventBus,
        clock: Clock,
        timings: Timings,
    ) -> None:
        self._config = config
        self._ssh = ssh
        self._http = http
        self._served = served
        self._events = events
        self._clock = clock
        self._timings = timings
        self.stopper = ClusterStopper(ssh, timings, clock)
        # The proxy's admission, drained before the served model is stopped (the engine sets it).
        self.traffic: Traffic = NoTraffic()
        # Called synchronously as a real swap enters each phase, before the phase runs any
        # command (the fault-matrix tests inject faults at an exact phase through this).
        self.listeners: list[PhaseListener] = []
        # While a rollback runs its steps stay inside the job's ``rolling_back`` phase; the
        # step it reached decides what a failed rollback leaves reported.
        self.rollback_step: Phase | None = None

    @property
    def _url(self) -> str:
        url = self._served.url
        if url is None:  # the engine refuses a swap before this (NotConfigured)
            raise NotConfigured()
        return url

    def _enter(self, job: JobRecord, phase: Phase) -> None:
        if self.rollback_step is not None:
            self.rollback_step = phase
            job.log("spark-control", f"rollback: {phase.value}")
            return
        job.enter(phase, PHASE_START[phase])
        self._events.publish("swap", job.view())
        for listener in self.listeners:
            listener(job, phase)
        log.info("swap %s → %s: %s", job.job_id, job.model_key, phase.value)

    async def run_all(self, job: JobRecord, plan: SwapPlan) -> None:
        """Every phase in order; returns when the model is verified."""
        await self.preflight(job, plan)
        await self.stop(job, plan)
        await self.launch(job, plan)
        await self.load_and_verify(job, plan)

    async def roll_back(self, job: JobRecord, plan: SwapPlan) -> None:
        """Relaunch ``plan``'s model (the one a failed swap replaced) inside the job's
        ``rolling_back`` phase: stop whatever is left, launch, load and verify. Raises like the
        phases it runs; :attr:`rollback_step` says how far it got."""
        self._enter(job, Phase.ROLLING_BACK)
        self.rollback_step = Phase.STOPPING
        try:
            job.log("spark-control", "rollback: stopping")
            self._served.set(None, ModelState.STOPPED)
            await self.stopper.stop(job, plan)
            await self.launch(job, plan)
            await self.load_and_verify(job, plan)
        finally:
            self.rollback_step = None

    async def preflight(self, job: JobRecord, plan: SwapPlan) -> None:
        self._enter(job, Phase.PREFLIGHT)
        # Build every command of the swap before touching anything: an argument the builder
        # refuses (UnsafeArgument) fails the swap here, with the cluster untouched.
        plan.planned()
        checks = await run_checks(self._ssh, plan)
        for check in checks:
            job.log("preflight", f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        blocking = blocking_failures(checks)
        if blocking:
            first = blocking[0]
            raise SwapFailed(f"Pre-flight check '{first.name}' failed: {first.detail.rstrip('.')}.")

    async def stop(self, job: JobRecord, plan: SwapPlan) -> None:
        self._enter(job, Phase.STOPPING)
        timeout = self._config.swap.drain_timeout_s
        drain_began = self._clock.monotonic()
        drained = await self.traffic.drain(timeout)
        job.draining(self._clock.monotonic() - drain_began)
        job.log(
            "spark-control",
            f"drain: {drained.drained} request(s) finished, {drained.cut} cut"
            + (f" after {timeout:g} s" if drained.cut and timeout else ""),
        )
        self._served.set(None, ModelState.STOPPED)
        await self.stopper.stop(job, plan)

    async def launch(self, job: JobRecord, plan: SwapPlan) -> None:
        self._enter(job, Phase.LAUNCHING)
        self._served.set(plan.model.key, ModelState.LOADING, plan.model.served_name)
        result = await self._ssh.run(
            plan.head, plan.launch(), timeout=self._timings.launch_timeout_s, env=plan.launch_env()
        )
        for line in (result.stdout + result.stderr).splitlines()[-50:]:
            job.log(plan.head, line)
        if not result.ok:
            tail = result.tail(3)
            raise SwapFailed(
                f"launch-cluster.sh exited with status {result.exit_status} on {plan.head}{': ' + tail if tail else ''}.",
                result.exit_status,
            )

    async def _follow_logs(
        self, job: JobRecord, plan: SwapPlan, fatal: asyncio.Future[str], started: asyncio.Event
    ) -> None:
        """Stream the head container's log into the job, raising progress at milestones,
        resolving ``fatal`` with the first line that means the engine died, and setting
        ``started`` when the API server reports startup complete (the health poll then checks
        at once instead of waiting for its next tick)."""
        with contextlib.suppress(SshError):
            async with self._ssh.stream(plan.head, plan.logs(tail=200, follow=True)) as lines:
                async for line in lines:
                    job.log(plan.head, line)
                    if not fatal.done() and signals.FATAL.search(line):
                        fatal.set_result(signals.message(line))
                    if signals.STARTUP_COMPLETE.search(line):
                        started.set()
                    progress = progress_for(line)
                    if progress is not None:
                        job.advance(progress)

    async def load_and_verify(self, job: JobRecord, plan: SwapPlan) -> None:
        """Loading then verifying, with the head's log streamed into the job throughout."""
        fatal: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        started = asyncio.Event()
        follower = asyncio.get_running_loop().create_task(
            self._follow_logs(job, plan, fatal, started)
        )
        try:
            await self._load(job, plan, fatal, started)
            await self._verify(job, plan)
            if fatal.done():
                raise SwapFailed(
                    f"vLLM on {plan.head} crashed right after loading: {fatal.result()}"
                )
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    async def _load(
        self, job: JobRecord, plan: SwapPlan, fatal: asyncio.Future[str], started: asyncio.Event
    ) -> None:
        self._enter(job, Phase.LOADING)
        t = self._timings
        load_timeout_s = self._config.vllm.load_timeout_s
        deadline = self._clock.monotonic() + load_timeout_s
        while True:
            status = await vllm.health_status(self._http, self._url, timeout=t.http_timeout_s)
            if status is not None:
                job.milestone("port_open")  # vLLM's HTTP server answers, ready or not
            if status == 200:
                job.milestone("http_ready")
                break
            if fatal.done():
                raise SwapFailed(f"vLLM on {plan.head} failed while loading: {fatal.result()}")
            if self._clock.monotonic() >= deadline:
                raise SwapFailed(
                    f"vLLM on {plan.head} did not become healthy within {load_timeout_s} s."
                )
            # Poll again after health_poll_s, or at once when the log says the server has
            # started (or that the engine died).
            hint = asyncio.ensure_future(started.wait())
            wake: list[asyncio.Future[Any]] = [hint, fatal]
            await asyncio.wait(wake, timeout=t.health_poll_s, return_when=asyncio.FIRST_COMPLETED)
            hint.cancel()
            started.clear()

    async def _verify(self, job: JobRecord, plan: SwapPlan) -> None:
        self._enter(job, Phase.VERIFYING)
        base = self._url
        timeout = self._timings.http_timeout_s
        served = await vllm.served_models(self._http, base, timeout=timeout)
        name = plan.model.served_name
        if served is None:
            raise SwapFailed(f"vLLM on {plan.head} is healthy but /v1/models could not be read.")
        if name not in served:
            raise SwapFailed(
                f"vLLM on {plan.head} serves {', '.join(served) or 'nothing'}, not {name}."
            )
        job.advance(MODEL_LISTED)
        problem = await vllm.one_token(
            self._http, base, name, timeout=self._timings.verify_timeout_s
        )
        if problem:
            raise SwapFailed(f"vLLM on {plan.head} lists {name} but {problem}.")
        job.milestone("first_token")
