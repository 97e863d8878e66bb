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
from app.swap.loading import vllm_gone
from app.swap.plan import SwapPlan

# Lines read from the end of the log. After a crash the reason is followed by the probes'
# access-log lines and the shutdown's noise (real vLLM 0.32 prints ~40 lines of nanobind leak
# reports as it exits), so the tail must reach well past them.
LOG_TAIL = 2000
# A vLLM that is gone without its reason in the log gets this many more reads of it, this far
# apart, for its last lines to land (5 s in all).
LOG_SETTLE_READS = 10
LOG_SETTLE_STEP_S = 0.5


class CrashCause(NamedTuple):
    dead: bool
    sentence: str


async def inspect_crash(
    ssh: SshTransport,
    plan: SwapPlan,
    *,
    timeout_s: float,
    settle_reads: int = LOG_SETTLE_READS,
    settle_step_s: float = LOG_SETTLE_STEP_S,
) -> CrashCause:
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
    exited = vllm_gone(top)
    diagnosis = _diagnose(logs) or signals.Diagnosis()
    rereads = 0
    while exited and diagnosis.best is None and rereads < settle_reads:
        # Gone, but its reason not in the log yet: vLLM's last lines can land after its
        # process left `docker top` (seen with the real one). Read again, a few times.
        await asyncio.sleep(settle_step_s)
        rereads += 1
        with contextlib.suppress(SshError):
            again = _diagnose(await ssh.run(head, plan.logs(tail=LOG_TAIL), timeout=timeout_s))
            diagnosis = again or diagnosis  # a failed read keeps what the last one found
    if exited or diagnosis.decisive:
        return CrashCause(True, diagnosis.sentence(head, exited=exited, after_ready=True))
    return CrashCause(False, f"Its health checks fail while vLLM still runs on {head}.")


def _diagnose(logs: CommandResult) -> signals.Diagnosis | None:
    """What the log says, or None when it could not be read."""
    if not logs.ok:
        return None
    diagnosis = signals.Diagnosis()
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
