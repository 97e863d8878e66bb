"""The swap engine: a single-flight state machine that moves the cluster from whatever it runs
to the requested model.

``preflight`` (reachability, launch script, image, weights — nothing is touched yet) →
``stopping`` (``launch-cluster.sh stop``; verify the container is gone on every node, ``docker
rm -f`` as the fallback; wait for GPU memory to fall, because GB10 frees it lazily) →
``launching`` (``launch-cluster.sh -d … exec vllm serve …``; ``-d`` so an SSH drop cannot kill
the model) → ``loading`` (poll ``/health``; stream the head's container log into the job) →
``verifying`` (``/v1/models`` lists the served name; a one-token completion) → ``ready``.

Guarantees:
* At most one real swap runs (``start`` raises :class:`SwapInProgress` otherwise); the guard is
  released in ``finally`` whatever happens, including cancellation.
* A real swap first passes the lock gate (``SwapLock.ensure_swap_allowed``), which raises
  ``Locked`` (HTTP 423). Dry runs skip the gate, touch nothing and fire no webhook.
* Any failure ends the job ``failed`` with a returncode, one sentence of error and the log tail;
  the webhook fires for ``ready`` and ``failed`` of real swaps only.
* ``cancel`` works in every phase: it stops the swap task and leaves the cluster stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Literal

import httpx
import msgspec

from app.catalog.models import ModelDef
from app.catalog.store import Catalog
from app.clock import Clock
from app.cluster.ssh import SshError, SshTransport
from app.config import Config
from app.coordination.lock import SwapLock
from app.coordination.webhook import SwapEvent, WebhookSender
from app.events import EventBus
from app.metrics import Metrics
from app.services import vllm
from app.swap import log_signals as signals
from app.swap.errors import (
    JobFinished,
    JobNotFound,
    NotConfigured,
    SwapFailed,
    SwapInProgress,
    UnknownModel,
)
from app.swap.jobs import Job, JobHistory, JobRecord, JobState, Phase
from app.swap.plan import SwapPlan
from app.swap.preflight import Check, Validation, run_checks
from app.swap.settings import Timings
from app.swap.stopping import ClusterStopper

log = logging.getLogger("spark_control.swap")

ModelState = Literal["unknown", "stopped", "loading", "ready", "failed"]


DOWN_PROBES_BEFORE_FAILED = 2


class RunningModel(msgspec.Struct, frozen=True):
    key: str | None
    state: ModelState
    served_name: str | None = None


class SwapEngine:
    def __init__(
        self,
        config: Config,
        *,
        ssh: SshTransport,
        http: httpx.AsyncClient,
        catalog: Callable[[], Catalog],
        lock: SwapLock,
        events: EventBus,
        webhook: WebhookSender,
        clock: Clock,
        timings: Timings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self._ssh = ssh
        self._http = http
        self._catalog = catalog  # returns the current snapshot
        self._lock = lock
        self._events = events
        self._webhook = webhook
        self._clock = clock
        self.timings = timings or Timings()
        self._stopper = ClusterStopper(ssh, self.timings, clock)
        self._metrics = metrics
        self.history = JobHistory()
        self._active: JobRecord | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = RunningModel(key=None, state="unknown")
        self._shutting_down = False
        self._down_probes = 0  # consecutive failed health probes of the head (observe_health)
        # Called synchronously as a real swap enters each phase, before the phase runs any
        # command (the fault-matrix tests inject faults at an exact phase through this).
        self.phase_listeners: list[Callable[[JobRecord, Phase], None]] = []

    # --- queries ---------------------------------------------------------------------------

    @property
    def active(self) -> JobRecord | None:
        """The real swap in progress, if any."""
        return self._active

    @property
    def swapping(self) -> bool:
        return self._active is not None

    @property
    def running(self) -> RunningModel:
        return self._running

    def _model(self, key: str) -> ModelDef:
        model = self._catalog().get(key)
        if model is None:
            raise UnknownModel(key)
        return model

    def _head_url(self) -> str:
        head = self.config.sparks[0]
        return vllm.base_url(head.host, self.config.vllm.port)

    def job(self, job_id: str) -> JobRecord:
        record = self.history.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return record

    # --- running model ---------------------------------------------------------------------

    def _set_running(self, key: str | None, state: ModelState, served: str | None = None) -> None:
        new = RunningModel(key=key, state=state, served_name=served)
        if new != self._running:
            self._running = new
            self._events.publish("model", new)

    def _set_serving(self, served: str) -> None:
        """The head answers healthy and lists ``served``: that model is ready (its catalog
        key when the catalog knows the served name, else only the name)."""
        model = self._catalog().by_served_name(served)
        self._set_running(model.key if model else None, "ready", served)

    def observe_health(self, seen: RunningModel, up: bool, models: tuple[str, ...]) -> None:
        """A status probe's verdict on the head's vLLM, probed while ``running`` was ``seen``.

        Outside a swap, a ``ready`` model whose server fails ``DOWN_PROBES_BEFORE_FAILED``
        probes in a row becomes ``failed`` (one lost probe on a busy head is not a crash); a
        healthy server that lists a model is reported as serving it (``ready``), whatever was
        reported before — a recovered engine, or a model someone started by hand. Ignored while
        a swap runs, or when the running model changed during the probe (the verdict may
        predate that change; the swap's own checks decide)."""
        if self._active is not None or self._running is not seen:
            return
        if not up:
            self._down_probes += 1
            if seen.state == "ready" and self._down_probes >= DOWN_PROBES_BEFORE_FAILED:
                self._set_running(seen.key, "failed", seen.served_name)
            return
        self._down_probes = 0
        if models and (seen.state != "ready" or seen.served_name not in models):
            self._set_serving(seen.served_name if seen.served_name in models else models[0])

    async def discover_running(self) -> RunningModel:
        """Ask the head what it serves (after a restart of Spark Control)."""
        if not self.config.configured:
            return self._running
        probe = await vllm.probe_vllm_endpoint(
            self._http, self._head_url(), timeout=self.timings.http_timeout_s
        )
        if probe.up and probe.models:
            self._set_serving(probe.models[0])
        elif probe.up:
            self._set_running(None, "unknown")
        else:
            self._set_running(None, "unknown" if probe.latency_ms is None else "loading")
        log.info(
            "running model at startup: %s (%s)",
            self._running.key or self._running.served_name,
            self._running.state,
        )
        return self._running

    # --- validate --------------------------------------------------------------------------

    async def validate(self, key: str) -> Validation:
        """Run every pre-flight check for ``key``; changes nothing, never blocked by the lock."""
        model = self._model(key)
        if not self.config.configured:
            raise NotConfigured()
        checks = await run_checks(self._ssh, SwapPlan(self.config, model))
        active = self._active
        checks.append(
            Check(
                "no swap running",
                active is None,
                "no other swap is running"
                if active is None
                else f"swap job {active.job_id} is running",
            )
        )
        return Validation(ok=all(c.ok for c in checks), model_key=key, checks=checks)

    # --- start / cancel --------------------------------------------------------------------

    def start(self, key: str, *, dry_run: bool = False, token: str | None = None) -> Job:
        """Start a swap to ``key`` and return its job at once (the swap runs in a task).

        Raises UnknownModel (404), NotConfigured (409), Locked (423), SwapInProgress (409)."""
        model = self._model(key)
        if not self.config.configured:
            raise NotConfigured()
        plan = SwapPlan(self.config, model)
        job = JobRecord(secrets.token_hex(4), key, dry_run=dry_run, clock=self._clock)
        if dry_run:
            job.commands = plan.planned()
            job.start()
            job.finish(JobState.READY, returncode=0)
            self.history.add(job)
            self._events.publish("swap", job.view())
            return job.view()
        self._lock.ensure_swap_allowed(token)
        if self._active is not None:
            raise SwapInProgress(self._active.job_id)
        self._active = job
        self.history.add(job)
        self._events.publish("swap", job.view())
        task = asyncio.get_running_loop().create_task(
            self._run(job, plan), name=f"swap-{job.job_id}"
        )
        self._tasks[job.job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job.job_id, None))
        return job.view()

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job; raises JobNotFound / JobFinished."""
        job = self.job(job_id)
        if job.terminal:
            raise JobFinished(job_id, job.state.value)
        job.cancel_requested = True
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()
        return job.view()

    async def wait(self, job_id: str) -> Job:
        """Wait until ``job_id`` reaches a terminal state (tests, scripts)."""
        job = self.job(job_id)
        await job.finished.wait()
        return job.view()

    # --- the state machine -----------------------------------------------------------------

    def _publish(self, job: JobRecord) -> None:
        self._events.publish("swap", job.view())

    def _enter(self, job: JobRecord, phase: Phase, progress: float) -> None:
        job.enter(phase, progress)
        self._publish(job)
        for listener in self.phase_listeners:
            listener(job, phase)
        log.info("swap %s → %s: %s", job.job_id, job.model_key, phase.value)

    async def _run(self, job: JobRecord, plan: SwapPlan) -> None:
        try:
            job.start()
            await self._preflight(job, plan)
            await self._stop(job, plan)
            await self._launch(job, plan)
            await self._load_and_verify(job, plan)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # we handle the cancellation; later awaits must work normally
            await self._cancelled(job, plan)
        except SwapFailed as failure:
            await self._fail(job, failure.message, failure.returncode)
        except SshError as err:
            await self._fail(job, err.message, 255)
        except Exception:
            log.exception("swap %s failed unexpectedly", job.job_id)
            await self._fail(
                job, "The swap failed because of an internal error; see the Spark Control log.", 1
            )
        else:
            job.finish(JobState.READY, returncode=0)
            self._set_running(plan.model.key, "ready", plan.model.served_name)
            self._publish(job)
            self._notify(job, "swap_complete")
            log.info("swap %s → %s: ready", job.job_id, job.model_key)
        finally:
            if self._active is job:
                self._active = None
            if self._metrics is not None and job.terminal:
                self._metrics.swap_finished(
                    job.state.value, self._clock.monotonic() - job.started_mono
                )

    async def _fail(self, job: JobRecord, message: str, returncode: int) -> None:
        await self._reconcile_after_failure(job)
        job.finish(JobState.FAILED, returncode=returncode, error=message)
        self._publish(job)
        self._notify(job, "swap_failed")
        log.warning("swap %s → %s failed: %s", job.job_id, job.model_key, message)

    async def _reconcile_after_failure(self, job: JobRecord) -> None:
        """After a failed swap, report what the head really serves: a launch whose SSH
        connection dropped may still have started the model, a preflight failure left the
        previous one running. Bounded by the HTTP timeout; never raises."""
        try:
            probe = await vllm.probe_vllm_endpoint(
                self._http, self._head_url(), timeout=self.timings.http_timeout_s
            )
        except Exception:
            log.exception("could not probe the head after swap %s failed", job.job_id)
            return
        if probe.up and probe.models:
            self._set_serving(probe.models[0])
        elif job.phase in (None, Phase.PREFLIGHT):
            return  # nothing was touched; whatever ran before is reported as it was
        elif job.phase == Phase.STOPPING:
            self._set_running(None, "stopped")
        else:
            model = self._catalog().get(job.model_key)
            self._set_running(job.model_key, "failed", model.served_name if model else None)

    async def _cancelled(self, job: JobRecord, plan: SwapPlan) -> None:
        if self._shutting_down:
            job.finish(
                JobState.FAILED,
                returncode=1,
                error="Spark Control stopped while the swap was running.",
            )
            self._publish(job)
            return
        touched = job.phase not in (None, Phase.PREFLIGHT)
        if touched:
            # Leave the cluster stopped, not half-launched. Shielded: this must finish even
            # though our task was cancelled.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timings.cleanup_timeout_s):
                    await asyncio.shield(self._stopper.stop_quietly(plan))
            self._set_running(None, "stopped")
        job.finish(JobState.CANCELLED, error="The swap was cancelled.")
        self._publish(job)
        log.info("swap %s → %s: cancelled", job.job_id, job.model_key)

    def _notify(self, job: JobRecord, event: Literal["swap_complete", "swap_failed"]) -> None:
        view = job.view()
        self._webhook.notify(
            SwapEvent(
                event=event,
                job_id=view.job_id,
                model_key=view.model_key,
                state="ready" if event == "swap_complete" else "failed",
                returncode=view.returncode,
                started_at=view.started_at,
                finished_at=view.finished_at or view.started_at,
                dry_run=view.dry_run,
            )
        )

    async def _preflight(self, job: JobRecord, plan: SwapPlan) -> None:
        self._enter(job, Phase.PREFLIGHT, 0.02)
        checks = await run_checks(self._ssh, plan)
        blocking = [c for c in checks if not c.ok and not c.name.startswith("disk")]
        for check in checks:
            job.log("preflight", f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        if blocking:
            first = blocking[0]
            raise SwapFailed(f"Pre-flight check '{first.name}' failed: {first.detail.rstrip('.')}.")

    async def _stop(self, job: JobRecord, plan: SwapPlan) -> None:
        self._enter(job, Phase.STOPPING, 0.1)
        self._set_running(None, "stopped")
        await self._stopper.stop(job, plan)

    async def _launch(self, job: JobRecord, plan: SwapPlan) -> None:
        self._enter(job, Phase.LAUNCHING, 0.25)
        self._set_running(plan.model.key, "loading", plan.model.served_name)
        result = await self._ssh.run(
            plan.head, plan.launch(), timeout=self.timings.launch_timeout_s, env=plan.launch_env()
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
                    progress = signals.progress_for(line)
                    if progress is not None:
                        job.advance(progress)

    async def _load_and_verify(self, job: JobRecord, plan: SwapPlan) -> None:
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
        self._enter(job, Phase.LOADING, 0.3)
        t = self.timings
        deadline = self._clock.monotonic() + self.config.vllm.load_timeout_s
        base = self._head_url()
        while not await vllm.is_healthy(self._http, base, timeout=t.http_timeout_s):
            if fatal.done():
                raise SwapFailed(f"vLLM on {plan.head} failed while loading: {fatal.result()}")
            if self._clock.monotonic() >= deadline:
                raise SwapFailed(
                    f"vLLM on {plan.head} did not become healthy within {self.config.vllm.load_timeout_s} s."
                )
            # Poll again after health_poll_s, or at once when the log says the server has
            # started (or that the engine died).
            hint = asyncio.ensure_future(started.wait())
            await asyncio.wait(
                [hint, fatal], timeout=t.health_poll_s, return_when=asyncio.FIRST_COMPLETED
            )
            hint.cancel()
            started.clear()

    async def _verify(self, job: JobRecord, plan: SwapPlan) -> None:
        self._enter(job, Phase.VERIFYING, 0.92)
        base = self._head_url()
        served = await vllm.served_models(self._http, base, timeout=self.timings.http_timeout_s)
        name = plan.model.served_name
        if served is None:
            raise SwapFailed(f"vLLM on {plan.head} is healthy but /v1/models could not be read.")
        if name not in served:
            raise SwapFailed(
                f"vLLM on {plan.head} serves {', '.join(served) or 'nothing'}, not {name}."
            )
        job.advance(0.96)
        problem = await vllm.one_token(
            self._http, base, name, timeout=self.timings.verify_timeout_s
        )
        if problem:
            raise SwapFailed(f"vLLM on {plan.head} lists {name} but {problem}.")

    # --- lifecycle -------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop the engine's tasks without touching the cluster (it keeps running with -d)."""
        self._shutting_down = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
