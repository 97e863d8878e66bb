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
  the webhook fires after every real swap: ``swap_complete`` for ``ready``, ``swap_failed`` for
  ``failed`` and ``cancelled`` (a cancel or a shutdown adds a ``reason``). Dry runs never fire.
* ``cancel`` works in every phase: it stops the swap task and leaves the cluster stopped. It is
  gated by the lock like a swap, and idempotent.
* Every job reaches exactly one terminal state whatever arrives when (a cancel before the task's
  first step, a repeated cancel, a shutdown during a cleanup); the guard is always released.

The phases themselves run in :mod:`app.swap.phases`; what the head serves is owned by
:class:`~app.swap.running.ServedModel`, which the engine writes as the cluster changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections.abc import Callable

import httpx
import msgspec

from app.catalog.models import ModelDef
from app.catalog.store import Catalog
from app.clock import Clock
from app.cluster.commands import UnsafeArgument
from app.cluster.ssh import SshError, SshTransport
from app.config import Config
from app.coordination.lock import SwapLock
from app.coordination.webhook import WebhookSender
from app.events import EventBus
from app.metrics import Metrics
from app.swap.errors import (
    JobFinished,
    JobNotFound,
    NotConfigured,
    SwapFailed,
    SwapInProgress,
    UnknownModel,
)
from app.swap.jobs import Job, JobHistory, JobRecord, JobState, Origin
from app.swap.notify import SwapOutcome, swap_event
from app.swap.phases import PhaseListener, PhaseRunner
from app.swap.plan import SwapPlan
from app.swap.preflight import (
    Validation,
    validate_plan,
    weights_check_for,
)
from app.swap.recovery import Recovery
from app.swap.running import ModelState, RunningModel, ServedModel
from app.swap.settings import Timings

log = logging.getLogger("spark_control.swap")

# The webhook's ``reason`` when a shutdown interrupts a swap (the job's error adds a period).
STOPPED_REASON = "Spark Control stopped while the swap was running"
INTERNAL_MESSAGE = "The swap failed because of an internal error; see the Spark Control log."


class SwapEngine:
    def __init__(
        self,
        config: Config,
        *,
        ssh: SshTransport,
        http: httpx.AsyncClient,
        catalog: Callable[[], Catalog],
        served: ServedModel,
        lock: SwapLock,
        events: EventBus,
        webhook: WebhookSender,
        clock: Clock,
        timings: Timings | None = None,
        metrics: Metrics | None = None,
        journal: Callable[[Job], None] | None = None,
    ) -> None:
        self.config = config
        self._ssh = ssh
        self._http = http
        self._catalog = catalog  # returns the current snapshot
        self._served = served
        self._lock = lock
        self._events = events
        self._webhook = webhook
        self._clock = clock
        self.timings = timings or Timings()
        self._metrics = metrics
        # The phase runner; its ``traffic`` (the proxy's admission) and ``weights_check`` (the
        # downloads' size check) are set by the runtime once those exist.
        self.phases = self._phases = PhaseRunner(
            config,
            ssh=ssh,
            http=http,
            served=served,
            events=events,
            clock=clock,
            timings=self.timings,
        )
        self._recovery = Recovery(
            config,
            http=http,
            catalog=catalog,
            served=served,
            phases=self._phases,
            timings=self.timings,
        )
        # Receives a job's view when it starts and when it ends (the persistent history).
        self._journal = journal
        self.history = JobHistory()
        self._active: JobRecord | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._shutting_down = False

    # --- queries ---------------------------------------------------------------------------

    @property
    def active(self) -> JobRecord | None:
        """The real swap in progress, if any."""
        return self._active

    @property
    def phase_listeners(self) -> list[PhaseListener]:
        """Called synchronously as a real swap enters each phase, before the phase runs any
        command (the fault-matrix tests inject faults at an exact phase through this)."""
        return self._phases.listeners

    def _model(self, key: str) -> ModelDef:
        model = self._catalog().get(key)
        if model is None:
            raise UnknownModel(key)
        return model

    def job(self, job_id: str) -> JobRecord:
        record = self.history.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return record

    async def discover_running(self) -> None:
        """Ask the head what it serves (after a restart of Spark Control)."""
        await self._served.discover(self._http, timeout=self.timings.http_timeout_s)

    # --- validate --------------------------------------------------------------------------

    async def validate(self, key: str) -> Validation:
        """Run every pre-flight check for ``key``; changes nothing, never blocked by the lock.
        ``ok`` is false exactly when a real swap would stop at preflight (or is refused)."""
        model = self._model(key)
        if not self.config.configured:
            raise NotConfigured()
        active = self._active
        return await validate_plan(
            self._ssh,
            SwapPlan(self.config, model),
            weights_check_for(self._phases.weights_check, model),
            running_job=active.job_id if active is not None else None,
        )

    def held_changed(self, count: int) -> None:
        """The proxy holds ``count`` requests for the running swap (shown in its job)."""
        job = self._active
        if job is not None:
            job.note_held(count)
            self._publish(job)

    # --- start / cancel --------------------------------------------------------------------

    def start(
        self,
        key: str,
        *,
        dry_run: bool = False,
        token: str | None = None,
        origin: Origin | None = None,
    ) -> Job:
        """Start a swap to ``key`` and return its job at once (the swap runs in a task).
        ``origin`` says who asked (the lock holder's name is added when a lock is held).

        Raises UnknownModel (404), NotConfigured (409), Locked (423), SwapInProgress (409)."""
        model = self._model(key)
        if not self.config.configured:
            raise NotConfigured()
        plan = SwapPlan(self.config, model)
        origin = origin or Origin(kind="api")
        if dry_run:
            job = JobRecord(
                secrets.token_hex(4), key, dry_run=True, clock=self._clock, origin=origin
            )
            job.commands = plan.planned()
            job.start()
            job.finish(JobState.READY, returncode=0)
            self.history.add(job)
            self._save(job)
            self._publish(job)
            return job.view()
        self._lock.ensure_swap_allowed(token)
        if self._active is not None:
            raise SwapInProgress(self._active.job_id)
        lock = self._lock.status()
        if lock.held and lock.holder:
            kind = "lock" if origin.kind in ("api", "dashboard") else origin.kind
            origin = msgspec.structs.replace(origin, kind=kind, holder=lock.holder)
        job = JobRecord(secrets.token_hex(4), key, dry_run=False, clock=self._clock, origin=origin)
        self._active = job
        previous = self._served.current  # what a rollback would relaunch
        self._served.swap_began(job.job_id)
        self.history.add(job)
        self._save(job)
        self._phases.traffic.swap_started(key)
        self._publish(job)
        task = asyncio.get_running_loop().create_task(
            self._run(job, plan, previous), name=f"swap-{job.job_id}"
        )
        self._tasks[job.job_id] = task
        task.add_done_callback(functools.partial(self._task_done, job))
        return job.view()

    def _save(self, job: JobRecord) -> None:
        if self._journal is not None:
            try:
                self._journal(job.view())
            except Exception:  # the history is a record; it must never break a swap
                log.exception("could not record swap %s in the history", job.job_id)

    def cancel(self, job_id: str, *, token: str | None = None) -> Job:
        """Cancel a queued or running job and return it. Raises JobNotFound; JobFinished for a
        job that already ended ``ready`` or ``failed``; ``Locked`` (HTTP 423) while the swap
        lock is held and ``token`` is not its token — a cancel changes what runs (it leaves
        the cluster stopped), so the lock covers it exactly as it covers a swap.

        Idempotent: the swap task is cancelled once, by the first call; a repeated cancel (a
        double click, a retrying client) — while the cancellation is being carried out or
        after the job ended ``cancelled`` — returns the same job and changes nothing. A second
        ``task.cancel()`` would land inside the cancellation's own cleanup."""
        job = self.job(job_id)
        if job.state == JobState.CANCELLED:
            return job.view()
        if job.terminal:
            raise JobFinished(job_id, job.state.value)
        self._lock.ensure_swap_allowed(token)
        if job.cancel_requested:
            return job.view()
        lock = self._lock.status()
        job.cancel_requested = True
        job.cancel_reason = (
            f"cancelled by {lock.holder}" if lock.held else "cancelled from the dashboard"
        )
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

    async def _run(self, job: JobRecord, plan: SwapPlan, previous: RunningModel) -> None:
        try:
            job.start()
            await self._phases.run_all(job, plan)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # we handle the cancellation; later awaits must work normally
            await self._cancelled(job, plan)
        except SwapFailed as failure:
            await self._fail(job, failure.message, failure.returncode, previous)
        except SshError as err:
            await self._fail(job, err.message, 255, previous)
        except UnsafeArgument as err:
            await self._fail(job, str(err), 1, previous)
        except Exception:
            log.exception("swap %s failed unexpectedly", job.job_id)
            await self._fail(job, INTERNAL_MESSAGE, 1, previous)
        else:
            job.finish(JobState.READY, returncode=0)
            self._served.set(plan.model.key, ModelState.READY, plan.model.served_name)
            self._phases.traffic.swap_ended(True)
            self._publish(job)
            self._notify(job, "swap_complete")
            log.info("swap %s → %s: ready", job.job_id, job.model_key)
        finally:
            # Whatever escaped the handlers above (a shutdown landing in a failure's or a
            # cancel's cleanup), the job ends here and the guard is released before anyone
            # woken by ``job.finished`` runs.
            self._settle(job)

    def _task_done(self, job: JobRecord, _task: asyncio.Task[None]) -> None:
        """The swap task ended, by whatever path. A task cancelled before its first step never
        ran ``_run`` at all (so no ``finally`` of its own ran): settle the job here."""
        self._tasks.pop(job.job_id, None)
        self._settle(job)

    def _settle(self, job: JobRecord) -> None:
        """Release the single-flight guard, make sure ``job`` has its one terminal state, and
        record its outcome once. Synchronous and idempotent: called from ``_run``'s
        ``finally`` and from the task's done callback."""
        if self._active is job:
            self._active = None
        self._served.swap_ended(job.job_id)
        # Held proxy requests never outlive the swap (already answered on every normal path).
        self._phases.traffic.swap_ended(job.state == JobState.READY, job.error or "it was stopped")
        if job.settled:
            return
        job.settled = True
        if not job.terminal:
            reason: str | None
            if self._shutting_down:
                job.finish(JobState.FAILED, returncode=1, error=f"{STOPPED_REASON}.")
                reason = STOPPED_REASON
            elif job.cancel_requested:
                reason = job.cancel_reason or "cancelled"
                job.finish(JobState.CANCELLED, error=f"The swap was {reason}.")
            else:  # not reachable by design; never leave a job running forever if it is
                job.finish(JobState.FAILED, returncode=1, error=INTERNAL_MESSAGE)
                reason = None
            self._publish(job)
            self._notify(job, "swap_failed", reason=reason)
            log.info("swap %s → %s: %s (interrupted)", job.job_id, job.model_key, job.state.value)
        self._save(job)
        if self._metrics is not None:
            self._metrics.swap_finished(job.state.value, self._clock.monotonic() - job.started_mono)
            self._metrics.swap_phases(job.phase_seconds())

    async def _fail(
        self, job: JobRecord, message: str, returncode: int, previous: RunningModel | None = None
    ) -> None:
        self._phases.traffic.swap_ended(False, message)
        await self._served.reconcile_after_failure(
            self._http,
            timeout=self.timings.http_timeout_s,
            phase=job.phase,
            model_key=job.model_key,
        )
        if previous is not None and self._recovery.should_roll_back(job, previous):
            job.rolled_back_to = await self._recovery.roll_back(
                job, previous, self._phases.traffic, shutting_down=self._shutting_down
            )
        job.finish(JobState.FAILED, returncode=returncode, error=message)
        self._publish(job)
        self._notify(job, "swap_failed")
        log.warning("swap %s → %s failed: %s", job.job_id, job.model_key, message)

    async def _cancelled(self, job: JobRecord, plan: SwapPlan) -> None:
        """End a cancelled swap: after the cluster was touched, leave it stopped (not
        half-launched), bounded by ``cleanup_timeout_s``. At shutdown nothing is cleaned up
        (the cluster keeps running with ``-d``); a shutdown that lands during the cleanup
        abandons it and propagates, and ``_settle`` ends the job."""
        if self._shutting_down:
            return  # _settle ends the job as stopped
        self._phases.traffic.swap_ended(False, "The swap was cancelled.")
        await self._recovery.stop_after_cancel(job, plan)
        reason = job.cancel_reason or "cancelled"
        job.finish(JobState.CANCELLED, error=f"The swap was {reason}.")
        self._publish(job)
        self._notify(job, "swap_failed", reason=reason)
        log.info("swap %s → %s: %s", job.job_id, job.model_key, reason)

    def _notify(self, job: JobRecord, event: SwapOutcome, *, reason: str | None = None) -> None:
        self._webhook.notify(swap_event(job, event, reason=reason))

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
