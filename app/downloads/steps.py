"""The phases of one download job, in order (see ``runner`` for the contract they serve)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import TYPE_CHECKING, Any

from app.catalog.models import ModelDef
from app.cluster.ssh import SshError
from app.downloads import remote, verify
from app.downloads.hub import HubRefused
from app.downloads.job import DownloadPhase, DownloadRecord
from app.downloads.plan import DownloadPlan, select_files
from app.downloads.verify import NodeWeights

if TYPE_CHECKING:
    from app.downloads.runner import DownloadManager


def _gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB"


async def _all(coros: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run concurrently; the first failure cancels the others (and is raised)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def _polling(
    m: DownloadManager,
    job: DownloadRecord,
    nodes: list[str],
    plan: DownloadPlan,
    state: str,
) -> AsyncIterator[None]:
    """While the block runs, read the bytes on disk of ``nodes`` every ``poll_s``."""
    repo_dir = remote.repo_dir(m.config, plan.repo)

    async def poll() -> None:
        while True:
            for node in nodes:
                with contextlib.suppress(SshError):
                    m.progress(job, state, await verify.check_node(m.ssh, node, repo_dir, plan))
            await asyncio.sleep(m.poll_s)

    task = asyncio.get_running_loop().create_task(poll())
    try:
        yield
    finally:
        task.cancel()
        # gather, not ``suppress(CancelledError)``: a cancel of the job itself arriving here
        # must propagate, not be swallowed with the poller's
        await asyncio.gather(task, return_exceptions=True)


def _summary(files: list[str]) -> str:
    return ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")


async def run_pipeline(m: DownloadManager, job: DownloadRecord, model: ModelDef) -> None:
    config, ssh = m.config, m.ssh
    nodes = m.nodes
    head = nodes[0]

    # --- planning ---------------------------------------------------------------------------
    job.enter(DownloadPhase.PLANNING)
    m.publish(job)
    hub = m.hub()
    listing = await hub.listing(model.repo or "")
    try:
        plan = select_files(listing)
    except ValueError as err:
        raise HubRefused(str(err)) from None
    if listing.gated:
        await hub.check_access(plan.repo, plan.revision, "config.json")
    job.planned(plan.revision, plan.total_bytes)
    job.log(
        "planning",
        f"{plan.repo} at {plan.revision[:12]}: {len(plan.files)} files, {_gib(plan.total_bytes)}",
    )
    m.publish(job)
    caches = await _all(remote.prepare(ssh, config, n) for n in nodes)
    repo_dir = remote.repo_dir(config, plan.repo)
    known = m.corrupt_known(job.model_key)
    states: list[NodeWeights] = await _all(
        verify.check_node(ssh, n, repo_dir, plan, known.get(n, ())) for n in nodes
    )
    for state in states:
        m.progress(job, "present" if state.complete else "waiting", state)
    for cache, state in zip(caches, states, strict=True):
        need = plan.total_bytes - state.bytes_done
        if need > cache.free_bytes:
            raise remote.StepFailed(
                f"{cache.node} needs {_gib(need)} free for {plan.repo} but has "
                f"{_gib(cache.free_bytes)}; free some space and retry."
            )
    await _all(remote.remove_blobs(ssh, config, s.node, plan.repo, s.bad_blobs) for s in states)

    # --- downloading (the head) -------------------------------------------------------------
    head_needs = states[0].missing_files + states[0].corrupt_files
    if head_needs:
        job.enter(DownloadPhase.DOWNLOADING)
        job.log(head, f"hf download of {len(head_needs)} files")
        m.publish(job)
        async with _polling(m, job, [head], plan, "downloading"):
            await remote.download_on_head(ssh, config, caches[0], plan, head_needs, job.download_id)
        after = await verify.check_node(ssh, head, repo_dir, plan)
        m.progress(job, "downloaded", after)
        if after.missing_files:
            raise remote.StepFailed(
                f"hf download finished but {head} still lacks {_summary(after.missing_files)}."
            )
    await remote.write_ref(ssh, config, head, plan.repo, plan.revision)

    # --- copying (head -> workers) ----------------------------------------------------------
    workers = [
        spark
        for spark, state in zip(config.sparks[1:], states[1:], strict=True)
        if not state.complete
    ]
    if workers:
        job.enter(DownloadPhase.COPYING)
        m.publish(job)
        async with _polling(m, job, [w.name for w in workers], plan, "copying"):
            await _all(
                remote.copy_to(ssh, config, head, w, plan, plan.total_bytes) for w in workers
            )

    # --- verifying (every node) -------------------------------------------------------------
    job.enter(DownloadPhase.VERIFYING)
    for state in states:
        m.progress(job, "verifying", msgspec_replace_bytes(state, plan))
    results: list[NodeWeights] = await _all(verify.hash_node(ssh, n, repo_dir, plan) for n in nodes)
    for result in results:
        m.progress(job, "verified" if result.complete else "failed", result)
    m.remember_corrupt(job.model_key, results)
    corrupt = [r for r in results if r.corrupt_files]
    if corrupt:
        files = sorted({p for r in corrupt for p in r.corrupt_files})
        where = ", ".join(r.node for r in corrupt)
        raise remote.StepFailed(
            f"{_summary(files)} on {where} did not match the hub's sha256 (a corrupt transfer); "
            "download again to repair."
        )
    missing = [r for r in results if r.missing_files]
    if missing:
        first = missing[0]
        raise remote.StepFailed(
            f"{first.node} still lacks {_summary(first.missing_files)} after the copy."
        )
    m.manifests.save(job.model_key, plan)
    m.forget_corrupt(job.model_key)


def msgspec_replace_bytes(state: NodeWeights, plan: DownloadPlan) -> NodeWeights:
    """The node's state as the copy left it (every byte in place) while it is being hashed."""
    import msgspec

    return msgspec.structs.replace(state, bytes_done=plan.total_bytes, missing_files=[])
