"""The stopping phase of a swap: stop the cluster, make sure the container is gone on every
node, and wait for GB10's lazily freed GPU memory before anything new is launched.

Every wait is bounded by the engine's :class:`~app.swap.settings.Timings`; a failure raises
:class:`~app.swap.errors.SwapFailed` (or an ``SshError``) with one sentence naming the node.
"""

from __future__ import annotations

import asyncio
import contextlib

from app.clock import Clock
from app.cluster.gpu import parse_gpu_csv
from app.cluster.ssh import SshError, SshTransport
from app.swap.errors import SwapFailed
from app.swap.jobs import JobRecord
from app.swap.plan import SwapPlan
from app.swap.settings import Timings


class ClusterStopper:
    def __init__(self, ssh: SshTransport, timings: Timings, clock: Clock) -> None:
        self._ssh = ssh
        self._timings = timings
        self._clock = clock

    async def stop(self, job: JobRecord, plan: SwapPlan) -> None:
        """``launch-cluster.sh stop``, then every node's container gone and GPU memory low."""
        result = await self._ssh.run(plan.head, plan.stop(), timeout=self._timings.stop_timeout_s)
        for line in (result.stdout + result.stderr).splitlines()[-20:]:
            job.log(plan.head, line)
        job.advance(0.14)
        await asyncio.gather(*(self._ensure_container_gone(job, plan, node) for node in plan.nodes))
        job.advance(0.17)
        await asyncio.gather(*(self._wait_gpu_released(job, plan, node) for node in plan.nodes))
        job.advance(0.2)

    async def run_ok(self, node: str, command: str, *, timeout: float, what: str) -> str:
        """Run a command that must succeed; its failure ends the swap with ``what``."""
        result = await self._ssh.run(node, command, timeout=timeout)
        if not result.ok:
            tail = result.tail()
            raise SwapFailed(
                f"{what} on {node} (exit status {result.exit_status}){': ' + tail if tail else ''}.",
                result.exit_status,
            )
        return result.stdout

    async def _ensure_container_gone(self, job: JobRecord, plan: SwapPlan, node: str) -> None:
        timeout = self._timings.command_timeout_s
        listed = await self.run_ok(
            node, plan.container_present(), timeout=timeout, what="Listing containers failed"
        )
        if not listed.strip():
            return
        job.log(node, f"container {plan.container} still present after stop; removing it")
        await self.run_ok(
            node,
            plan.container_remove(),
            timeout=timeout,
            what=f"Removing container {plan.container} failed",
        )
        listed = await self.run_ok(
            node, plan.container_present(), timeout=timeout, what="Listing containers failed"
        )
        if listed.strip():
            raise SwapFailed(
                f"Container {plan.container} is still present on {node} after docker rm -f."
            )

    async def _wait_gpu_released(self, job: JobRecord, plan: SwapPlan, node: str) -> None:
        """GB10 frees unified memory lazily after a container stops: wait until it is low."""
        t = self._timings
        deadline = self._clock.monotonic() + t.gpu_release_timeout_s
        reported = False
        while True:
            out = await self.run_ok(
                node, plan.gpu_query(), timeout=t.command_timeout_s, what="nvidia-smi failed"
            )
            samples = parse_gpu_csv(out)
            used = max((s.memory_used_mib or 0.0 for s in samples), default=0.0)
            if (
                not samples
                or all(s.memory_used_mib is None for s in samples)
                or used < t.gpu_free_threshold_mib
            ):
                return
            if not reported:
                job.log(node, f"waiting for GPU memory to be released ({used:.0f} MiB in use)")
                reported = True
            if self._clock.monotonic() >= deadline:
                raise SwapFailed(
                    f"GPU memory on {node} stayed at {used:.0f} MiB for {t.gpu_release_timeout_s:g} s after the stop."
                )
            await asyncio.sleep(t.gpu_poll_s)

    async def stop_quietly(self, plan: SwapPlan) -> None:
        """Best-effort stop used by cancel: stop, then remove leftovers on every node."""
        with contextlib.suppress(SshError):
            await self._ssh.run(plan.head, plan.stop(), timeout=self._timings.stop_timeout_s)
        for node in plan.nodes:
            with contextlib.suppress(SshError):
                await self._ssh.run(
                    node, plan.container_remove(), timeout=self._timings.command_timeout_s
                )
