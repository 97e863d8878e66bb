"""The fault matrix: every fault the simulator can inject, times every swap phase.

For each cell the fault is injected exactly as the engine enters the phase (through the
engine's synchronous phase listener, before the phase runs any command), then we record the
final job state, the error sentence, whether the single-flight guard was released, whether the
next swap (faults cleared) succeeded, and which webhook fired. Each cell is compared with what
the product promises; the table is written to ``docs/RELIABILITY.md`` by ``make docs`` (a plain
run writes a temporary copy: ``tests/reports.py``) and the test fails if any cell is wrong.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.swap.jobs import JobRecord, Phase
from scripts.sparksim.faults import FAULTS
from tests.cluster import ClusterHarness, running_app, sim_config, simulator
from tests.reports import report_path

# The phases a swap passes through on its way to ready (a rollback runs only after a failure).
PHASES = [p.value for p in Phase if p != Phase.ROLLING_BACK]
A, B = "gemma-3-27b", "qwen3-32b"
A_REPO = "google/gemma-3-27b-it"
LOAD_TIMEOUT_S = 10
# Faults of a weights download, not of a swap: tests/downloads covers them.
DOWNLOAD_FAULTS = {"disk_full", "slow_link", "image_lacks"}


@dataclass(frozen=True)
class Scenario:
    fault: str
    node: str
    params: dict[str, Any]
    # phase -> (expected state, expected error fragment or None)
    expected: dict[str, tuple[str, str | None]]


def _until(
    last_effective: str, failed: tuple[str, str | None]
) -> dict[str, tuple[str, str | None]]:
    """Fails when injected up to and including ``last_effective``; no effect afterwards."""
    cut = PHASES.index(last_effective)
    return {p: failed if i <= cut else ("ready", None) for i, p in enumerate(PHASES)}


def scenarios() -> list[Scenario]:
    ready_everywhere = dict.fromkeys(PHASES, ("ready", None))
    launch_failed = ("failed", "launch-cluster.sh exited with status 3 on spark1")
    return [
        Scenario("launch_fail", "spark1", {"exit_code": 3}, _until("launching", launch_failed)),
        Scenario(
            "never_healthy",
            "spark1",
            {},
            _until("loading", ("failed", f"did not become healthy within {LOAD_TIMEOUT_S} s")),
        ),
        Scenario(
            "crash_after_ready",
            "spark1",
            {"seconds": 0.0},
            _until("loading", ("failed", "vLLM on spark1")),
        ),
        Scenario(
            "ssh_drop",
            "spark1",
            {"after_s": 0.05},
            _until("launching", ("failed", "connection was lost")),
        ),
        Scenario("slow_stop", "spark1", {"seconds": 2.0}, ready_everywhere),
        Scenario("gpu_residual", "spark2", {"seconds": 1.5}, ready_everywhere),
        Scenario(
            "model_missing",
            "spark2",
            {"repo": A_REPO},
            {
                "preflight": ("failed", "Pre-flight check 'weights spark2' failed"),
                "stopping": ("failed", "failed while loading"),
                "launching": ("failed", "failed while loading"),
                "loading": ("failed", "failed while loading"),
                "verifying": ("ready", None),
            },
        ),
        Scenario(
            "image_missing",
            "spark2",
            {},
            {
                "preflight": ("failed", "Pre-flight check 'image spark2' failed"),
                "stopping": ("failed", "launch-cluster.sh exited with status 1 on spark1"),
                "launching": ("failed", "launch-cluster.sh exited with status 1 on spark1"),
                "loading": ("ready", None),
                "verifying": ("ready", None),
            },
        ),
    ]


# ssh_drop needs to know which command to drop: the one the phase runs first.
SSH_DROP_MATCH = {
    "preflight": "test -x",
    "stopping": " stop",
    "launching": "exec vllm serve",
    "loading": "docker logs",
    "verifying": "docker logs",
}


@dataclass
class Cell:
    fault: str
    phase: str
    state: str
    error: str | None
    guard_released: bool
    next_swap_ok: bool
    webhook: str
    rolled_back: str
    expected_state: str
    expected_error: str | None

    @property
    def right(self) -> bool:
        webhook_ok = self.webhook == ("swap_complete" if self.state == "ready" else "swap_failed")
        error_ok = (
            (self.error is None)
            if self.expected_error is None
            else (self.expected_error in (self.error or ""))
        )
        return (
            self.state == self.expected_state
            and error_ok
            and self.guard_released
            and self.next_swap_ok
            and webhook_ok
        )


async def run_cell(cluster: ClusterHarness, scenario: Scenario, phase: str) -> Cell:
    sim, engine = cluster.sim, cluster.runtime.engine
    params = dict(scenario.params)
    if scenario.fault == "ssh_drop":
        params["match"] = SSH_DROP_MATCH[phase]

    def inject(job: JobRecord, entered: Phase) -> None:
        if entered.value == phase and job.model_key == A:
            sim.inject(scenario.node, scenario.fault, **params)

    engine.phase_listeners.append(inject)
    sent_before = len(cluster.webhook.sent)
    try:
        done = await cluster.swap_and_wait(A)
    finally:
        engine.phase_listeners.remove(inject)
    guard_released = engine.active is None
    webhooks = [e.event for e in cluster.webhook.sent[sent_before:] if e.job_id == done["job_id"]]
    sim.clear_faults()
    after = await cluster.swap_and_wait(B)
    expected_state, expected_error = scenario.expected[phase]
    return Cell(
        fault=scenario.fault,
        phase=phase,
        state=done["state"],
        error=done["error"],
        guard_released=guard_released,
        next_swap_ok=after["state"] == "ready" and sim.running_model() == B,
        webhook=",".join(webhooks) or "none",
        rolled_back=(
            "—"
            if not done.get("rolled_back_to")
            else "ready"
            if done["rolled_back_to"]["ready"]
            else "NOT ready"
        ),
        expected_state=expected_state,
        expected_error=expected_error,
    )


def write_doc(cells: list[Cell]) -> None:
    right = sum(c.right for c in cells)
    lines = [
        "# Reliability: the fault matrix",
        "",
        "Generated by `tests/reliability/test_fault_matrix.py` (part of `make test`); do not edit by hand.",
        "",
        "Every fault the Spark simulator can inject, injected on one node exactly as a real swap",
        "enters each phase (before the phase runs any command). For each cell: the job's final",
        "state and error sentence, whether the single-flight guard was released, whether the next",
        "swap (faults cleared) succeeded, and which webhook fired. A cell is right when all of these",
        "match what the product promises (a fault that can no longer bite lets the swap finish).",
        "Faults the vLLM engine reads as it starts (`never_healthy`, `crash_after_ready`,",
        "`model_missing` on a worker) still bite when injected as loading begins: the engine",
        "process is only starting when `launch-cluster.sh -d` returns.",
        "Before each cell the cluster serves the other model: with the default",
        "`swap.on_failure: rollback`, a failure after pre-flight relaunches it inside the failed",
        "job (the column says whether it came back ready).",
        "",
        f"**{right} / {len(cells)} cells right.**",
        "",
        "| fault | injected at | final state | error | guard released | next swap | webhook "
        "| rolled back | right |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        error = (c.error or "—").replace("|", "\\|")
        lines.append(
            f"| `{c.fault}` | {c.phase} | {c.state} | {error} | {'yes' if c.guard_released else 'NO'} "
            f"| {'ok' if c.next_swap_ok else 'FAILED'} | {c.webhook} | {c.rolled_back} "
            f"| {'✓' if c.right else '✗'} |"
        )
    report_path("RELIABILITY.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.slow
async def test_fault_matrix(tmp_path: Path) -> None:
    covered = {s.fault for s in scenarios()}
    swap_faults = set(FAULTS) - DOWNLOAD_FAULTS
    assert covered == swap_faults, f"faults without a row: {swap_faults - covered}"
    cells: list[Cell] = []
    async with simulator(tmp_path / "sim", load_time=0.3) as sim:
        config = sim_config(sim, vllm={"load_timeout_s": LOAD_TIMEOUT_S})
        async with running_app(sim, config=config) as cluster:
            assert (await cluster.swap_and_wait(B))["state"] == "ready"
            for scenario in scenarios():
                for phase in PHASES:
                    cells.append(await asyncio.wait_for(run_cell(cluster, scenario, phase), 120))
    write_doc(cells)
    wrong = [c for c in cells if not c.right]
    assert not wrong, "\n".join(f"{c.fault}@{c.phase}: {c}" for c in wrong)
