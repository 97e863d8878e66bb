"""Download jobs: one per model at a time, each a task that puts the model's weights on every
Spark and proves them.

``planning`` (the hub's listing at a pinned commit → the files vLLM needs; gated access; each
node's free disk and what it already has; damaged blobs removed) → ``downloading`` (the head's
``hf download`` of what it lacks) → ``copying`` (rsync head → every worker that lacks anything,
in parallel) → ``verifying`` (sizes and sha256 of the LFS blobs on every node, in parallel) →
``done``. A model already complete on a node is not fetched or copied again; a partial one is
resumed. Progress is polled from the nodes' disks while bytes move.

Guarantees: :meth:`DownloadManager.start` raises :class:`DownloadInProgress` while a job for the
model runs; every job ends in exactly one terminal state; cancelling (or a failure) removes the
download container on the head and ends the remote processes (closing their SSH channels),
leaving partial files to resume. A download never touches the running model.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

import httpx
import msgspec

from app.catalog.models import ModelDef
from app.catalog.store import Catalog
from app.clock import Clock
from app.cluster.ssh import SshError, SshTransport
from app.config import Config
from app.downloads import remote, verify
from app.downloads.errors import (
    DownloadFinished,
    DownloadInProgress,
    DownloadNotFound,
    LocalModel,
)
from app.downloads.hub import HubClient, HubError, HubRefused, RepoListing
from app.downloads.job import (
    Download,
    DownloadHistory,
    DownloadPhase,
    DownloadRecord,
    DownloadState,
    NodeProgress,
)
from app.downloads.manifests import ManifestStore
from app.downloads.plan import DownloadPlan, select_files
from app.downloads.verify import NodeWeights
from app.errors import NotConfigured, UnknownModel
from app.events import EventBus
from app.metrics import Metrics

log = logging.getLogger("spark_control.downloads")

CLEANUP_TIMEOUT_S = 30.0
STOPPED = "Spark Control stopped during the download."
CANCELLED = "The download was cancelled."
INTERNAL = "The download failed because of an internal error; see the Spark Control log."


class ModelVerification(msgspec.Struct, frozen=True):
    model_key: str
    repo: str
    revision: str
    ok: bool
    nodes: list[NodeWeights]


class DownloadManager:
    def __init__(
        self,
        config: Config,
        *,
        ssh: SshTransport,
        http: httpx.AsyncClient,
        catalog: Callable[[], Catalog],
        events: EventBus,
        clock: Clock,
        manifests: ManifestStore,
        metrics: Metrics | None = None,
        start_swap: Callable[[str], str] | None = None,
        on_finished: Callable[[str], None] | None = None,
        record: Callable[[Download], None] | None = None,
        poll_s: float = 2.0,
    ) -> None:
        self.config = config
        self._ssh = ssh
        self._http = http
        self._catalog = catalog
        self._events = events
        self._clock = clock
        self.manifests = manifests
        self._metrics = metrics
        self._start_swap = start_swap
        self._on_finished = on_finished
        # the history's writer: called with the job when it starts and when it ends
        self._record = record
        self.poll_s = poll_s
        self.history = DownloadHistory()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # paths a hash check found corrupt, per model and node: the next download repairs them
        self._corrupt: dict[str, dict[str, list[str]]] = {}
        self._shutting_down = False

    @property
    def nodes(self) -> list[str]:
        return [s.name for s in self.config.sparks]

    def hub(self) -> HubClient:
        return HubClient(self._http, self.config.vllm.hf_endpoint, self.config.vllm.hf_token)

    def model(self, key: str) -> ModelDef:
        """The catalog model ``key`` with a repo; raises UnknownModel / LocalModel."""
        model = self._catalog().get(key)
        if model is None:
            raise UnknownModel(key)
        if model.repo is None:
            raise LocalModel(key)
        return model

    # --- queries ---------------------------------------------------------------------------

    def job(self, download_id: str) -> DownloadRecord:
        job = self.history.get(download_id)
        if job is None:
            raise DownloadNotFound(download_id)
        return job

    def running(self) -> list[DownloadRecord]:
        return [j for j in self.history.newest_first() if not j.terminal]

    # --- start / cancel --------------------------------------------------------------------

    def start(self, key: str, *, then_swap: bool = False) -> Download:
        """Start downloading ``key``'s weights; raises UnknownModel (404), LocalModel (400),
        NotConfigured (409), DownloadInProgress (409)."""
        model = self.model(key)
        if not self.config.configured:
            raise NotConfigured()
        active = self.history.active_for(key)
        if active is not None:
            raise DownloadInProgress(key, active.download_id)
        job = DownloadRecord(
            secrets.token_hex(4),
            key,
            model.repo or "",
            self.nodes,
            clock=self._clock,
            then_swap=then_swap,
        )
        self.history.add(job)
        self.publish(job)
        self._save(job)
        if self._metrics is not None:
            self._metrics.download_started()
        task = asyncio.get_running_loop().create_task(
            self._run(job, model), name=f"download-{job.download_id}"
        )
        self._tasks[job.download_id] = task
        task.add_done_callback(lambda _t: self._task_done(job))
        return job.view()

    def cancel(self, download_id: str) -> Download:
        """Cancel a queued or running download; raises DownloadNotFound / DownloadFinished.
        Idempotent: a repeated cancel returns the job and changes nothing (a second
        ``task.cancel()`` would interrupt the first one's cleanup of the remote processes)."""
        job = self.job(download_id)
        if job.cancel_requested or job.state == DownloadState.CANCELLED:
            return job.view()
        if job.terminal:
            raise DownloadFinished(download_id, job.state.value)
        job.cancel_requested = True
        task = self._tasks.get(download_id)
        if task is not None:
            task.cancel()
        return job.view()

    async def wait(self, download_id: str) -> Download:
        job = self.job(download_id)
        await job.finished.wait()
        return job.view()

    async def shutdown(self) -> None:
        """Cancel every job and wait for it: each ends ``failed`` ("Spark Control stopped
        during the download.") unless a user cancelled it first, its container removed within
        ``CLEANUP_TIMEOUT_S`` (all jobs' clean-ups run at once)."""
        self._shutting_down = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- verification on request and for pre-flight ---------------------------------------

    async def verify(self, key: str) -> ModelVerification:
        """Hash-level check of every node against the hub's listing (at the revision of the
        last download, else the current one). Raises UnknownModel / LocalModel / HubError / HubRefused."""
        model = self.model(key)
        plan = self.manifests.get(key)
        if plan is None or plan.repo != model.repo:
            listing = await self.hub().listing(model.repo or "")
            plan = _plan(listing)
        repo_dir = remote.repo_dir(self.config, plan.repo)
        results = await asyncio.gather(
            *(verify.hash_node(self._ssh, n, repo_dir, plan) for n in self.nodes),
            return_exceptions=True,
        )
        nodes = []
        for node, result in zip(self.nodes, results, strict=True):
            if isinstance(result, SshError):
                nodes.append(NodeWeights(node, 0, [f.path for f in plan.files], hashed=False))
            elif isinstance(result, BaseException):
                raise result
            else:
                nodes.append(result)
        self.remember_corrupt(key, nodes)
        return ModelVerification(
            model_key=key,
            repo=plan.repo,
            revision=plan.revision,
            ok=all(n.complete and n.hashed for n in nodes),
            nodes=nodes,
        )

    async def size_check(self, model: ModelDef, node: str) -> tuple[bool, str] | None:
        """Pre-flight's weights check of one node against the last download's manifest;
        None when no manifest is known (the caller falls back to its own check). Fails while
        a download of the model runs (its files may be partial)."""
        active = self.history.active_for(model.key)
        if active is not None:
            return False, (
                f"the weights of {model.repo} are still being downloaded "
                f"(download {active.download_id}); swap once it is done"
            )
        plan = self.manifests.get(model.key) if model.repo else None
        if plan is None or plan.repo != model.repo:
            return None
        try:
            state = await verify.check_node(
                self._ssh, node, remote.repo_dir(self.config, plan.repo), plan
            )
        except SshError as err:
            return False, err.message
        if state.complete:
            return True, f"{plan.repo}: all {len(plan.files)} files present at full size"
        shown = ", ".join(state.missing_files[:3]) + ("…" if len(state.missing_files) > 3 else "")
        return False, (
            f"weights for {plan.repo} are incomplete on {node} ({len(state.missing_files)} "
            f"files missing or partial: {shown}); run Download to repair them"
        )

    # --- the job ---------------------------------------------------------------------------

    def publish(self, job: DownloadRecord) -> None:
        self._events.publish("download", job.view())

    def progress(self, job: DownloadRecord, state: str, weights: NodeWeights) -> None:
        """Record one node's bytes and files on the job and publish it."""
        job.node(
            NodeProgress(
                weights.node,
                state,
                weights.bytes_done,
                weights.missing_files,
                weights.corrupt_files,
            )
        )
        self.publish(job)

    async def _run(self, job: DownloadRecord, model: ModelDef) -> None:
        """The job's task. Its ending is decided where the pipeline stops, then the clean-up
        runs (a later cancel or a shutdown cannot cut it short), then the job ends."""
        try:
            job.start()
            self.publish(job)
            await self._pipeline(job, model)
        except asyncio.CancelledError:
            _uncancel()
            state, error = self._interrupted(job)
        except (HubError, HubRefused, remote.StepFailed, SshError) as err:
            state, error = DownloadState.FAILED, err.message
        except Exception:
            log.exception("download %s failed unexpectedly", job.download_id)
            state, error = DownloadState.FAILED, INTERNAL
        else:
            self._end(job, DownloadState.DONE, None)
            self._then_swap(job)
            return
        await self._cleanup(job)
        self._end(job, state, error)

    def _interrupted(self, job: DownloadRecord) -> tuple[DownloadState, str]:
        """How a job that was cancelled ends: ``cancelled`` when a user asked, ``failed`` when
        Spark Control is stopping."""
        if self._shutting_down and not job.cancel_requested:
            return DownloadState.FAILED, STOPPED
        return DownloadState.CANCELLED, CANCELLED

    def _task_done(self, job: DownloadRecord) -> None:
        self._tasks.pop(job.download_id, None)
        if not job.terminal:
            # Cancelled before its first step: a coroutine cancelled before it starts never
            # runs its handlers. Nothing ran on a Spark, so there is nothing to clean up.
            self._end(job, *self._interrupted(job))

    def _end(self, job: DownloadRecord, state: DownloadState, error: str | None) -> None:
        if not job.finish(state, error=error):
            return
        self.publish(job)
        self._save(job)
        if self._metrics is not None:
            self._metrics.download_finished(
                state.value, job.bytes_done, self._clock.monotonic() - job.started_mono
            )
        if self._on_finished is not None:
            self._on_finished(job.model_key)
        log.info("download %s of %s: %s %s", job.download_id, job.repo, state.value, error or "")

    async def _cleanup(self, job: DownloadRecord) -> None:
        """Stop the head's download container if one may run, within ``CLEANUP_TIMEOUT_S``.
        A cancel arriving meanwhile (a shutdown during a user's cancel) waits for it: cut
        short, it would leave the container downloading. (The other phases' remote processes
        end with their SSH channels, closed as the cancel unwinds the pipeline.)"""
        if job.phase != DownloadPhase.DOWNLOADING or not self.config.sparks:
            return

        async def remove() -> None:
            async with asyncio.timeout(CLEANUP_TIMEOUT_S):
                await remote.remove_container(self._ssh, self.nodes[0], job.download_id)

        removal = asyncio.get_running_loop().create_task(remove())
        while not removal.done():
            try:
                await asyncio.wait([removal])
            except asyncio.CancelledError:
                _uncancel()
        if not removal.cancelled() and removal.exception() is not None:
            log.warning(
                "download %s: its container stays: %r", job.download_id, removal.exception()
            )

    def _save(self, job: DownloadRecord) -> None:
        if self._record is None:
            return
        try:
            self._record(job.view())
        except Exception:  # the history is a record; a failure to write it ends nothing
            log.exception("could not record download %s in the history", job.download_id)

    def _then_swap(self, job: DownloadRecord) -> None:
        if not job.then_swap or self._start_swap is None:
            return
        try:
            job.swap_started(self._start_swap(job.model_key))
        except Exception as err:  # a lock, a swap in progress: say so in the job's log
            job.log("swap", f"the swap was not started: {getattr(err, 'message', err)}")
        self.publish(job)

    async def _pipeline(self, job: DownloadRecord, model: ModelDef) -> None:
        from app.downloads.steps import run_pipeline

        await run_pipeline(self, job, model)

    # --- what the pipeline (``steps``) uses --------------------------------------------------

    @property
    def ssh(self) -> SshTransport:
        return self._ssh

    def corrupt_known(self, key: str) -> dict[str, list[str]]:
        """Paths the last hash check found corrupt, per node (the next download repairs them)."""
        return self._corrupt.get(key, {})

    def forget_corrupt(self, key: str) -> None:
        self._corrupt.pop(key, None)

    def remember_corrupt(self, key: str, nodes: list[NodeWeights]) -> None:
        self._corrupt[key] = {n.node: n.corrupt_files for n in nodes if n.corrupt_files}


def _uncancel() -> None:
    """Take back every pending cancellation of the current task (the job handles it once)."""
    task = asyncio.current_task()
    while task is not None and task.cancelling():
        task.uncancel()


def _plan(listing: RepoListing) -> DownloadPlan:
    try:
        return select_files(listing)
    except ValueError as err:
        raise HubRefused(str(err)) from None
