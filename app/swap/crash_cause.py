"""Why a served model stopped answering: ask the head once, as the crash watchdog needs.

:func:`inspect_crash` lists the head container's processes (``docker top``) and reads the tail
of its log (``docker logs --tail``) over SSH, both bounded by ``timeout_s``, and returns a
:class:`CrashCause`:

* ``dead`` — vLLM will not come back by itself: its process (or the container) is gone, or its
  log holds a decisive fatal line (``EngineDeadError`` …). The watchdog relaunches at once.
* otherwise only its health checks fail (a stall, an overloaded server, a network blip): the
  watchdog waits ``watchdog.grace_s`` for it to recover before relaunching.

``sentence`` quotes vLLM's own reason when its log has one. An SSH failure is an answer too
(the head unreachable: not known dead, ``sentence`` says so); nothing here raises.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import NamedTuple

from app.catalog.store import Catalog
from app.cluster.ssh import CommandResult, SshError, SshTransport
from app.config import Config
from app.swap import log_signals as signals
from app.swap.loading import CONTAINER_GONE, VLLM_PROCESS
from app.swap.plan import SwapPlan

LOG_TAIL = 200
LOG_SETTLE_S = 1.0


class CrashCause(NamedTuple):
    dead: bool
    sentence: str


async def inspect_crash(ssh: SshTransport, plan: SwapPlan, *, timeout_s: float) -> CrashCause:
    head = plan.head
    try:
        top, logs = await asyncio.gather(
            ssh.run(head, plan.processes(), timeout=timeout_s),
            ssh.run(head, plan.logs(tail=LOG_TAIL), timeout=timeout_s),
        )
    except SshError as err:
        return CrashCause(
            False, f"Its health checks fail and {head} cannot be asked why: {err.message}"
        )
    if top.ok:
        exited = not VLLM_PROCESS.search(top.stdout)
    else:
        exited = bool(CONTAINER_GONE.search(top.stderr + top.stdout))
    diagnosis = _diagnose(logs)
    if exited and diagnosis.best is None:
        # Gone, but its reason not in the log yet: vLLM's last lines can land after its
        # process left `docker top` (seen with the real one). Read once more.
        await asyncio.sleep(LOG_SETTLE_S)
        with contextlib.suppress(SshError):
            diagnosis = _diagnose(await ssh.run(head, plan.logs(tail=LOG_TAIL), timeout=timeout_s))
    if exited or diagnosis.decisive:
        return CrashCause(True, diagnosis.sentence(head, exited=exited, after_ready=True))
    return CrashCause(False, f"Its health checks fail while vLLM still runs on {head}.")


def _diagnose(logs: CommandResult) -> signals.Diagnosis:
    diagnosis = signals.Diagnosis()
    if logs.ok:
        # `docker logs` interleaves the container's stdout and stderr; vLLM writes to both.
        for line in (logs.stdout + logs.stderr).splitlines():
            diagnosis.observe(line)
    return diagnosis


class CrashInspector:
    """``await inspector(key)``: the :class:`CrashCause` of catalog model ``key`` on the head
    (the watchdog's view of the head; built by the runtime, which owns SSH and the catalog)."""

    def __init__(
        self, ssh: SshTransport, config: Config, catalog: Callable[[], Catalog], timeout_s: float
    ) -> None:
        self._ssh, self._config, self._catalog, self._timeout_s = ssh, config, catalog, timeout_s

    async def __call__(self, key: str) -> CrashCause:
        model = self._catalog().get(key)
        if model is None or not self._config.sparks:
            return CrashCause(False, f"{key} is no longer in the catalog.")
        plan = SwapPlan(self._config, model)
        return await inspect_crash(self._ssh, plan, timeout_s=self._timeout_s)
