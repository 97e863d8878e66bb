"""What a swap leaves behind when it does not reach ready: the rollback after a failure, and
the cleanup after a cancel.

* :meth:`Recovery.roll_back` relaunches the model the failed swap had stopped, inside the
  failed job (phase ``rolling_back``, its own log lines), when ``swap.on_failure`` is
  ``rollback``. It never raises; a cancel or shutdown during it leaves the cluster stopped.
* :meth:`Recovery.stop_after_cancel` leaves the cluster stopped (not half-launched) after a
  cancel that came once the cluster was touched, bounded by ``cleanup_timeout_s`` and shielded
  so its SSH commands are interrupted only by the timeout or a shutdown.

Both tell the proxy's admission (:class:`~app.swap.traffic.Traffic`) when a relaunch starts
and ends, so requests held for the relaunched model are served or refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import httpx

from app.catalog.store import Catalog
from app.cluster.ssh import SshError
from app.config import Config
from app.coordination.webhook import RolledBack
from app.swap.errors import SwapFailed
from app.swap.jobs import JobRecord, Phase
from app.swap.phases import PhaseRunner
from app.swap.plan import SwapPlan
from app.swap.running import ModelState, RunningModel, ServedModel
from app.swap.settings import Timings
from app.swap.traffic import Traffic

log = logging.getLogger("spark_control.swap")


class Recovery:
    def __init__(
        self,
        config: Config,
        *,
        http: httpx.AsyncClient,
        catalog: Callable[[], Catalog],
        served: ServedModel,
        phases: PhaseRunner,
        timings: Timings,
    ) -> None:
        self._config = config
        self._http = http
        self._catalog = catalog
        self._served = served
        self._phases = phases
        self._timings = timings

    def should_roll_back(self, job: JobRecord, previous: RunningModel) -> bool:
        """Roll back when asked to, when a ready model was stopped by this swap (a failure in
        preflight touched nothing) and the head does not serve anything now."""
        return (
            self._config.swap.on_failure == "rollback"
            and previous.state == ModelState.READY
            and previous.key is not None
            and previous.key != job.model_key
            and job.phase not in (None, Phase.PREFLIGHT)
            and self._served.current.state != ModelState.READY
        )

    async def roll_back(
        self, job: JobRecord, previous: RunningModel, traffic: Traffic, *, shutting_down: bool
    ) -> RolledBack:
        """Relaunch ``previous`` inside the failed job (phase ``rolling_back``); never raises.
        A cancel (or shutdown) during the rollback stops it and leaves the cluster stopped."""
        key = previous.key or ""
        model = self._catalog().get(key)
        if model is None:
            job.log("spark-control", f"rollback: {key} is no longer in the catalog")
            return RolledBack(model_key=key, ready=False)
        plan = SwapPlan(self._config, model)
        job.log("spark-control", f"rollback: the swap to {job.model_key} failed; relaunching {key}")
        log.warning("swap %s failed; rolling back to %s", job.job_id, key)
        traffic.swap_started(key)
        ready = False
        try:
            await self._phases.roll_back(job, plan)
            ready = True
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            job.log("spark-control", "rollback: cancelled; the cluster is left stopped")
            if not shutting_down:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self._timings.cleanup_timeout_s):
                        await asyncio.shield(self._phases.stopper.stop_quietly(plan))
                self._served.set(None, ModelState.STOPPED)
        except (SwapFailed, SshError) as err:
            job.log("spark-control", f"rollback failed: {getattr(err, 'message', err)}")
            await self._served.reconcile_after_failure(
                self._http,
                timeout=self._timings.http_timeout_s,
                phase=self._phases.rollback_step,
                model_key=key,
            )
        except Exception:
            log.exception("rollback of swap %s failed unexpectedly", job.job_id)
        if ready:
            self._served.set(key, ModelState.READY, model.served_name)
            job.log("spark-control", f"rollback: {key} is ready again")
        traffic.swap_ended(ready, None if ready else "the rollback did not complete")
        return RolledBack(model_key=key, ready=ready)

    async def stop_after_cancel(self, job: JobRecord, plan: SwapPlan) -> None:
        """Leave the cluster stopped after a cancel, once it was touched (nothing to undo in
        preflight); a timeout or failure is logged, never raised."""
        if job.phase in (None, Phase.PREFLIGHT):
            return
        cleanup = asyncio.ensure_future(self._phases.stopper.stop_quietly(plan))
        try:
            async with asyncio.timeout(self._timings.cleanup_timeout_s):
                # Shielded so the cleanup's SSH commands are never interrupted halfway by
                # anything but the timeout or a shutdown (which cancels it below).
                await asyncio.shield(cleanup)
        except TimeoutError:
            log.warning("swap %s: the cancel's cleanup timed out", job.job_id)
        except Exception:
            log.exception("swap %s: the cancel's cleanup failed", job.job_id)
        finally:
            cleanup.cancel()  # a no-op once it finished
        self._served.set(None, ModelState.STOPPED)
