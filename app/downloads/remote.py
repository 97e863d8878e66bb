"""The remote steps of a download, each one SSH command built in ``app.cluster.commands``.

* :func:`prepare` makes sure the HF cache exists on a node and reads its physical path, free
  space and the SSH user's uid:gid (the download container writes as that user, so the files
  stay the user's, deletable by "Delete from disk").
* :func:`download_on_head` runs the vLLM image's real ``hf download`` of the missing files,
  ``docker run --rm`` with the cache mounted, the token (if any) passed as environment.
* :func:`copy_to` pushes the repo's cache directory from the head to one worker with rsync
  over SSH (the Sparks trust each other, as ``launch-cluster.sh`` needs): resumable, same layout.
* :func:`remove_blobs`, :func:`write_ref`, :func:`remove_container`: repair and clean-up.

Failures come back as :class:`StepFailed` with one sentence (a full disk, recognised in any
step's output, is named with its node: :func:`disk_full`); SSH errors propagate as
``SshError``.
"""

from __future__ import annotations

import re

import msgspec

from app.catalog.models import hf_cache_dir
from app.cluster import commands as cmd
from app.cluster.ssh import CommandResult, SshTransport
from app.config import Config, Spark
from app.downloads.plan import DownloadPlan

PREPARE_TIMEOUT_S = 30.0
SMALL_TIMEOUT_S = 60.0
# The slowest link we wait for before calling a transfer hung: 2 MB/s, never under an hour.
MIN_BYTES_PER_S = 2 * 1024 * 1024
MIN_TRANSFER_TIMEOUT_S = 3600.0
NOT_FOUND_EXIT = 127  # docker run: the container's program does not exist in the image
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A full disk, as each writer words it: rsync "write failed on …: No space left on device (28)",
# Python's OSError "[Errno 28] No space left on device" (huggingface_hub), docker's lower-case
# "no space left on device".
_DISK_FULL = re.compile(r"no space left on device|\[Errno 28\]|\bENOSPC\b", re.IGNORECASE)


class StepFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NodeCache(msgspec.Struct, frozen=True):
    node: str
    hf_home: str  # physical absolute path
    free_bytes: int
    user: str  # uid:gid


def hub_dir(config: Config) -> str:
    return cmd.join_path(cmd.remote_path(config.vllm.hf_home), "hub")


def repo_dir(config: Config, repo: str) -> str:
    return cmd.join_path(hub_dir(config), hf_cache_dir(repo))


def transfer_timeout(size: int) -> float:
    return max(MIN_TRANSFER_TIMEOUT_S, size / MIN_BYTES_PER_S)


def last_error(result: CommandResult) -> str:
    """The most telling line of a failed command's output (``Error: …`` if there is one)."""
    lines = [_ANSI.sub("", line).strip() for line in (result.stdout + result.stderr).splitlines()]
    lines = [line for line in lines if line and not line.startswith("Hint:")]
    errors = [line for line in lines if "error" in line.lower() or "denied" in line.lower()]
    text = (errors or lines or [f"exit status {result.exit_status}"])[-1]
    return text.removeprefix("Error: ").rstrip(".")[:300]


def out_of_space(result: CommandResult) -> bool:
    """Whether a failed command failed because a disk filled up (ENOSPC)."""
    return bool(_DISK_FULL.search(result.stdout + result.stderr))


def disk_full(node: str, doing: str) -> StepFailed:
    """The one sentence for a disk that filled up on ``node`` while ``doing``; what was written
    so far is kept (``hf``'s finished files, rsync's ``--partial``) for the next download."""
    return StepFailed(
        f"{node} ran out of disk space while {doing}; free some space and download again."
    )


async def prepare(ssh: SshTransport, config: Config, node: str) -> NodeCache:
    """Create the hub cache directory and read where it is and how much room it has."""
    home = cmd.remote_path(config.vllm.hf_home)
    script = cmd.render(
        cmd.make_dirs(hub_dir(config)),
        cmd.cd(home),
        cmd.physical_cwd(),
        cmd.disk_free("."),
        cmd.user_id(),
        cmd.group_id(),
    )
    result = await ssh.run(node, script, timeout=PREPARE_TIMEOUT_S)
    lines = result.stdout.strip().splitlines()
    if not result.ok or len(lines) < 5:
        raise StepFailed(f"The Hugging Face cache on {node} is not usable: {last_error(result)}.")
    try:
        free_kib = int(lines[2].split()[3])
        uid, gid = int(lines[3]), int(lines[4])
    except (IndexError, ValueError):
        raise StepFailed(f"Could not read the free disk space on {node}.") from None
    return NodeCache(node=node, hf_home=lines[0], free_bytes=free_kib * 1024, user=f"{uid}:{gid}")


def container_name(download_id: str) -> str:
    return f"spark-control-download-{download_id}"


async def download_on_head(
    ssh: SshTransport,
    config: Config,
    cache: NodeCache,
    plan: DownloadPlan,
    files: list[str],
    download_id: str,
) -> None:
    """``hf download`` of ``files`` at the plan's revision into the head's cache."""
    token = config.vllm.hf_token
    argv = cmd.hf_download_container(
        image=config.vllm.image,
        name=container_name(download_id),
        cache_dir=cache.hf_home,
        user=cache.user,
        endpoint=config.vllm.hf_endpoint,
        repo=plan.repo,
        revision=plan.revision,
        files=files,
        with_token=bool(token),
    )
    size = sum(f.size for f in plan.files if f.path in set(files))
    result = await ssh.run(
        cache.node,
        cmd.render(argv),
        timeout=transfer_timeout(size),
        env={"HF_TOKEN": token} if token else None,
    )
    if not result.ok:
        if out_of_space(result):
            raise disk_full(cache.node, f"downloading {plan.repo}")
        if result.exit_status == NOT_FOUND_EXIT and "executable file not found" in result.stderr:
            raise StepFailed(
                f"The vLLM image {config.vllm.image} on {cache.node} has no hf command, which "
                "downloads run (huggingface_hub 0.34 or newer has it): build the image from a "
                "newer vLLM, or copy the weights to the Sparks yourself."
            )
        raise StepFailed(
            f"hf download of {plan.repo} on {cache.node} failed: {last_error(result)}."
        )


async def copy_to(
    ssh: SshTransport, config: Config, head: str, worker: Spark, plan: DownloadPlan, size: int
) -> None:
    """rsync the repo's cache directory from ``head`` to ``worker``."""
    argv = cmd.rsync_push(
        source=hf_cache_dir(plan.repo),
        user=worker.ssh_user,
        host=worker.peer_address,  # the head reaches it over the cluster link
        port=worker.ssh_port,
        dest=repo_dir(config, plan.repo),
    )
    result = await ssh.run(
        head, cmd.render(cmd.cd(hub_dir(config)), argv), timeout=transfer_timeout(size)
    )
    if not result.ok:
        if out_of_space(result):  # only the receiver writes: the worker's disk is the full one
            raise disk_full(worker.name, f"copying {plan.repo} from {head}")
        raise StepFailed(
            f"Copying {plan.repo} from {head} to {worker.name} failed (rsync exit "
            f"{result.exit_status}): {last_error(result)}."
        )


async def remove_blobs(
    ssh: SshTransport, config: Config, node: str, repo: str, blobs: list[str]
) -> None:
    """Delete blobs that resuming cannot fix (corrupt, oversized), so they are fetched anew."""
    if not blobs:
        return
    script = cmd.render(
        cmd.cd(repo_dir(config, repo)), cmd.remove_files([f"blobs/{b}" for b in blobs])
    )
    result = await ssh.run(node, script, timeout=SMALL_TIMEOUT_S)
    if not result.ok:
        raise StepFailed(f"Could not remove damaged files on {node}: {last_error(result)}.")


async def write_ref(ssh: SshTransport, config: Config, node: str, repo: str, revision: str) -> None:
    """Point ``refs/main`` at ``revision`` (hf download of a pinned commit writes no ref, and
    vLLM resolves ``main`` offline through it)."""
    script = cmd.render(
        cmd.cd(repo_dir(config, repo)), cmd.make_dirs("refs"), cmd.write_stdin("refs/main")
    )
    result = await ssh.run(node, script, timeout=SMALL_TIMEOUT_S, stdin=revision)
    if not result.ok:
        if out_of_space(result):
            raise disk_full(node, f"recording the revision of {repo}")
        raise StepFailed(f"Could not record the revision on {node}: {last_error(result)}.")


async def remove_container(ssh: SshTransport, node: str, download_id: str) -> None:
    """Stop the download container (killing the docker CLI over SSH leaves it running)."""
    await ssh.run(
        node, cmd.render(cmd.container_remove(container_name(download_id))), timeout=SMALL_TIMEOUT_S
    )
