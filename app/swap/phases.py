"""The phases of a real swap, each run in order by the engine: ``preflight`` → ``stopping`` →
``launching`` → ``loading`` → ``verifying``.

Every runner raises :class:`~app.swap.errors.SwapFailed` (one sentence, a returncode) or
:class:`~app.cluster.ssh.SshError`, and returns normally when its phase succeeded. Every wait is
bounded (``Timings`` and the config's load timeout). The served model is written here as the
cluster changes: ``stopped`` on entering ``stopping``, ``loading`` on entering ``launching``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx

from app.clock import Clock
from app.cluster.ssh import SshTransport
from app.config import Config
from app.events import EventBus
from app.services import vllm
from app.swap.errors import NotConfigured, SwapFailed
from app.swap.jobs import JobRecord, Phase
from app.swap.loading import LoadWatch
from app.swap.plan import SwapPlan
from app.swap.preflight import (
    ModelWeightsCheck,
    blocking_failures,
    run_checks,
    weights_check_for,
)
from app.swap.progress import MODEL_LISTED, PHASE_START
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
        # The downloads' size-level weights check, used by pre-flight when set.
        self.weights_check: ModelWeightsCheck | None = None

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
        checks = await run_checks(
            self._ssh, plan, weights_check_for(self.weights_check, plan.model)
        )
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

    async def load_and_verify(self, job: JobRecord, plan: SwapPlan) -> None:
        """Loading then verifying, with the head's vLLM watched throughout (its log streamed
        into the job, its exit noticed: see :class:`~app.swap.loading.LoadWatch`)."""
        async with LoadWatch(self._ssh, plan, job, self._timings, self._clock) as watch:
            await self._load(job, plan, watch)
            try:
                await self._verify(job, plan)
            except SwapFailed:
                # The server went away while being verified: vLLM's own reason says more.
                if watch.diagnosis.decisive or watch.exited:
                    raise SwapFailed(watch.crash_sentence()) from None
                raise
            if watch.diagnosis.decisive:
                raise SwapFailed(watch.crash_sentence())

    async def _load(self, job: JobRecord, plan: SwapPlan, watch: LoadWatch) -> None:
        """Poll ``/health`` until it answers 200. Ends early, with vLLM's reason, when vLLM
        exits or prints a decisive fatal line; at ``load_timeout_s`` otherwise."""
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
            failure = watch.failure()
            if failure is not None:
                raise SwapFailed(failure)
            if self._clock.monotonic() >= deadline:
                raise SwapFailed(
                    f"vLLM on {plan.head} did not become healthy within {load_timeout_s} s."
                )
            # Poll again after health_poll_s, or at once when the log says the server has
            # started, or when vLLM died or a grace period runs out.
            grace = watch.next_check_in()
            timeout = t.health_poll_s if grace is None else min(t.health_poll_s, grace)
            hints = [
                asyncio.ensure_future(watch.started.wait()),
                asyncio.ensure_future(watch.changed.wait()),
            ]
            await asyncio.wait(hints, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for hint in hints:
                hint.cancel()
            watch.started.clear()
            watch.changed.clear()

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
