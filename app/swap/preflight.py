"""Pre-flight checks of a swap: what ``POST /api/swap/{key}/validate`` reports and what a real
swap runs before it touches anything.

Checks run concurrently over SSH, each bounded by a timeout, and change nothing. A node that
cannot be reached fails its own checks with the reason; it never hangs the report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec

from app.catalog.local_paths import LocalPathRefused, check_on_node
from app.catalog.models import ModelDef
from app.cluster.ssh import CommandResult, SshError, SshTransport
from app.swap.plan import SwapPlan

CHECK_TIMEOUT_S = 15.0
MIN_FREE_DISK_GIB = 5.0

# The downloads' size-level check of one node (``(ok, detail)``), or None when it knows no
# manifest of the model; pre-flight then only checks that a snapshot directory exists.
WeightsCheck = Callable[[str], Awaitable[tuple[bool, str] | None]]
ModelWeightsCheck = Callable[[ModelDef, str], Awaitable[tuple[bool, str] | None]]


def weights_check_for(check: ModelWeightsCheck | None, model: ModelDef) -> WeightsCheck | None:
    """``check`` bound to ``model`` (None for a local model, or when there is no check)."""
    if check is None or model.local:
        return None
    return lambda node: check(model, node)


class Check(msgspec.Struct, frozen=True):
    """One pre-flight check. A failed ``blocking`` check stops a real swap (and makes
    ``validate`` answer ``ok: false``); a failed non-blocking one is only a warning."""

    name: str
    ok: bool
    detail: str
    blocking: bool = True


def blocking_failures(checks: list[Check]) -> list[Check]:
    """The failed checks that stop a swap, in order: what a real swap and ``validate`` agree
    on."""
    return [check for check in checks if check.blocking and not check.ok]


class Validation(msgspec.Struct, frozen=True):
    ok: bool
    model_key: str
    checks: list[Check]

    @classmethod
    def of(cls, model_key: str, checks: list[Check]) -> Validation:
        return cls(ok=not blocking_failures(checks), model_key=model_key, checks=checks)


async def _run(ssh: SshTransport, node: str, command: str) -> CommandResult | SshError:
    try:
        return await ssh.run(node, command, timeout=CHECK_TIMEOUT_S)
    except SshError as err:
        return err


def _free_kib(df_output: str) -> int | None:
    """Available KiB from ``df -Pk`` output (second line, fourth column)."""
    lines = df_output.strip().splitlines()
    if len(lines) < 2:
        return None
    fields = lines[-1].split()
    try:
        return int(fields[3])
    except (IndexError, ValueError):
        return None


async def _local_path_check(ssh: SshTransport, plan: SwapPlan, node: str) -> Check:
    """The local model directory, resolved again on ``node`` with every symlink followed: a
    symlink swapped in after the model was added must not lead outside the model roots."""
    path = plan.model.local_path or ""
    try:
        await check_on_node(ssh, node, path, plan.config.models.local_roots)
    except LocalPathRefused as refused:
        return Check(f"local path {node}", False, str(refused))
    return Check(f"local path {node}", True, f"{path} is inside the model roots")


async def node_checks(
    ssh: SshTransport,
    plan: SwapPlan,
    node: str,
    *,
    head: bool,
    weights: WeightsCheck | None = None,
) -> list[Check]:
    """Every check for one node; if SSH fails, one failed ``ssh`` check says why."""
    reach = await _run(ssh, node, "true")
    if isinstance(reach, SshError):
        return [Check(f"ssh {node}", False, reach.message)]
    checks = [Check(f"ssh {node}", True, "reachable")]
    if plan.model.local_path is not None:
        checks.append(await _local_path_check(ssh, plan, node))
    commands = {
        "image": plan.image_check(),
        "weights": plan.weights_check(),
        "disk": plan.disk_check(),
    }
    if head:
        commands["launch script"] = plan.launch_script_check()
    verdict_task = asyncio.ensure_future(weights(node)) if weights is not None else None
    results = dict(
        zip(
            commands,
            await asyncio.gather(*(_run(ssh, node, c) for c in commands.values())),
            strict=True,
        )
    )
    verdict = await verdict_task if verdict_task is not None else None
    image = plan.config.vllm.image
    for name, result in results.items():
        label = f"{name} {node}" if name != "launch script" else "launch script"
        if isinstance(result, SshError):
            checks.append(Check(label, False, result.message, blocking=name != "disk"))
            continue
        if name == "image":
            detail = (
                f"image {image} present" if result.ok else f"image {image} is missing on {node}"
            )
            checks.append(Check(label, result.ok, detail))
        elif name == "weights" and verdict is not None:
            checks.append(Check(label, verdict[0], verdict[1]))
        elif name == "weights":
            where = plan.weights_path()
            what = plan.model.source_ref
            detail = (
                f"{what} present at {where}"
                if result.ok
                else f"weights for {what} are missing on {node} ({where})"
            )
            checks.append(Check(label, result.ok, detail))
        elif name == "launch script":
            detail = (
                "launch-cluster.sh is executable"
                if result.ok
                else (
                    f"launch-cluster.sh not found or not executable in {plan.config.vllm.launch_dir} on {node}"
                )
            )
            checks.append(Check(label, result.ok, detail))
        else:
            free = _free_kib(result.stdout) if result.ok else None
            if free is None:
                checks.append(
                    Check(
                        label,
                        False,
                        f"could not read free disk space on {node}: {result.tail(1)}",
                        blocking=False,
                    )
                )
            else:
                gib = free / 1024 / 1024
                ok = gib >= MIN_FREE_DISK_GIB
                detail = f"{gib:.1f} GiB free" + (
                    "" if ok else f" (need at least {MIN_FREE_DISK_GIB:g} GiB)"
                )
                # Low disk space is a warning: the weights may already be on disk.
                checks.append(Check(label, ok, detail, blocking=False))
    return checks


async def run_checks(
    ssh: SshTransport, plan: SwapPlan, weights: WeightsCheck | None = None
) -> list[Check]:
    """All nodes' checks, head first, in a stable order."""
    per_node = await asyncio.gather(
        *(
            node_checks(ssh, plan, node, head=index == 0, weights=weights)
            for index, node in enumerate(plan.nodes)
        )
    )
    return [check for checks in per_node for check in checks]


async def validate_plan(
    ssh: SshTransport,
    plan: SwapPlan,
    weights: WeightsCheck | None,
    *,
    running_job: str | None,
) -> Validation:
    """Every pre-flight check of ``plan`` plus "no swap running" (``running_job`` is the job
    id of the swap in progress, if any); changes nothing."""
    checks = await run_checks(ssh, plan, weights)
    checks.append(
        Check(
            "no swap running",
            running_job is None,
            "no other swap is running"
            if running_job is None
            else f"swap job {running_job} is running",
        )
    )
    return Validation.of(plan.model.key, checks)
