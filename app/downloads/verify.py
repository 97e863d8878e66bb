"""Is a model's download complete and intact on a Spark? Answered from the node's HF cache.

* **Size level** (cheap, one ``find`` per node): every planned file is linked from
  ``snapshots/<revision>/`` to ``blobs/<blob>`` and the blob has the planned size. The same
  listing gives the bytes already on disk, including partial files (``hf download``'s
  ``<blob>.incomplete``, rsync's ``--partial`` leftovers and temp files): that is how download
  progress is measured, against the plan.
* **Hash level** (on request, and at the end of every download): the LFS blobs are hashed on
  the node with ``sha256sum``, split over several commands that run in parallel, and compared
  with the sha256 the hub listed (an LFS blob is named by it).

Nothing here changes a node.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Sequence

import msgspec

from app.cluster import commands as cmd
from app.cluster.ssh import SshTransport
from app.downloads.plan import DownloadPlan, PlannedFile

LISTING_TIMEOUT_S = 60.0
HASH_PARALLEL = 4
# sha256sum does ~1 GB/s on a Spark; a group gets ten times longer than that at least.
HASH_MIN_BYTES_PER_S = 100 * 1024 * 1024
HASH_MIN_TIMEOUT_S = 120.0


class NodeWeights(msgspec.Struct, frozen=True):
    """One node's copy of a planned model."""

    node: str
    bytes_done: int
    missing_files: list[str]
    corrupt_files: list[str] = msgspec.field(default_factory=list)
    # blobs that can never become right by resuming (too big, hashed wrong, or a download
    # temp file only its dead process could have used): delete them before downloading
    bad_blobs: list[str] = msgspec.field(default_factory=list)
    hashed: bool = False

    @property
    def complete(self) -> bool:
        return not self.missing_files and not self.corrupt_files


class CacheListing(msgspec.Struct, frozen=True):
    links: dict[str, str]  # path in the snapshot -> blob name it points to
    blobs: dict[str, int]  # name in blobs/ -> size


def parse_listing(output: str, revision: str) -> CacheListing:
    """Parse ``commands.cache_listing`` output (``type\\tsize\\tpath\\ttarget`` lines)."""
    prefix = f"snapshots/{revision}/"
    links: dict[str, str] = {}
    blobs: dict[str, int] = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[1].isdigit():
            continue
        kind, size, path, target = parts
        if kind == "l" and path.startswith(prefix):
            links[path[len(prefix) :]] = posixpath.basename(target)
        elif kind == "f" and path.startswith("blobs/") and path.count("/") == 1:
            blobs[path[len("blobs/") :]] = int(size)
    return CacheListing(links=links, blobs=blobs)


def _is_private_temp(name: str, blob: str) -> bool:
    """``<blob>.<8 hex>.incomplete``: huggingface_hub >= 1.0 downloads into a file unique to
    the process, which no later process resumes (one left by a killed process is garbage)."""
    middle = name.removeprefix(blob + ".").removesuffix(".incomplete")
    return (
        name.startswith(blob + ".")
        and name.endswith(".incomplete")
        and len(middle) == 8
        and all(c in "0123456789abcdef" for c in middle)
    )


def _partial_bytes(file: PlannedFile, blobs: dict[str, int]) -> int:
    """Bytes of ``file`` written so far under any of the names a transfer in progress uses:
    ``<blob>.incomplete`` (huggingface_hub < 1.0, resumable), ``<blob>.<8 hex>.incomplete``
    (later versions) and rsync's ``.<blob>.XXXXXX`` temp file."""
    sizes = [blobs.get(file.blob + ".incomplete", 0)]
    sizes += [size for name, size in blobs.items() if name.startswith(f".{file.blob}.")]
    sizes += [size for name, size in blobs.items() if _is_private_temp(name, file.blob)]
    own = blobs.get(file.blob)
    if own is not None and own < file.size:
        sizes.append(own)
    return min(max(sizes), file.size)


def weights_from_listing(
    node: str, plan: DownloadPlan, listing: CacheListing, corrupt: Sequence[str] = ()
) -> NodeWeights:
    """Size-level state of ``node`` (``corrupt``: paths a hash check found wrong)."""
    done = 0
    missing: list[str] = []
    bad: list[str] = []
    corrupt_set = set(corrupt)
    for file in plan.files:
        size = listing.blobs.get(file.blob)
        complete = size == file.size and listing.links.get(file.path) == file.blob
        if size is not None and size > file.size:
            bad.append(file.blob)
        if file.path in corrupt_set:
            bad.append(file.blob)
            continue
        # (called at planning, when no download of this model runs: a private temp is stale)
        stale = [name for name in listing.blobs if _is_private_temp(name, file.blob)]
        if complete:
            done += file.size
        else:
            missing.append(file.path)
            done += _partial_bytes(file, listing.blobs)
        bad += stale
    return NodeWeights(
        node=node,
        bytes_done=done,
        missing_files=missing,
        corrupt_files=[p for p in (f.path for f in plan.files) if p in corrupt_set],
        bad_blobs=sorted(set(bad)),
    )


async def list_node(ssh: SshTransport, node: str, repo_dir: str, revision: str) -> CacheListing:
    """The node's cache listing for the repo (empty when the repo is absent). Raises SshError."""
    result = await ssh.run(
        node,
        cmd.render(cmd.cd(repo_dir), cmd.cache_listing(revision)),
        timeout=LISTING_TIMEOUT_S,
    )
    # find exits 1 when snapshots/<rev> or blobs is missing; what it did list still counts.
    return parse_listing(result.stdout, revision)


async def check_node(
    ssh: SshTransport, node: str, repo_dir: str, plan: DownloadPlan, corrupt: Sequence[str] = ()
) -> NodeWeights:
    """Size-level check of one node. Raises SshError."""
    listing = await list_node(ssh, node, repo_dir, plan.revision)
    return weights_from_listing(node, plan, listing, corrupt)


def _groups(files: Sequence[PlannedFile], count: int) -> list[list[PlannedFile]]:
    """Split ``files`` into at most ``count`` groups of about equal bytes (largest first)."""
    groups: list[list[PlannedFile]] = [[] for _ in range(max(1, min(count, len(files))))]
    sizes = [0] * len(groups)
    for file in sorted(files, key=lambda f: f.size, reverse=True):
        index = sizes.index(min(sizes))
        groups[index].append(file)
        sizes[index] += file.size
    return [g for g in groups if g]


async def hash_node(
    ssh: SshTransport,
    node: str,
    repo_dir: str,
    plan: DownloadPlan,
    *,
    parallel: int = HASH_PARALLEL,
) -> NodeWeights:
    """Size check, then sha256 of every complete LFS blob on the node (``parallel``
    ``sha256sum`` commands at once). Raises SshError."""
    listing = await list_node(ssh, node, repo_dir, plan.revision)
    state = weights_from_listing(node, plan, listing)
    present = set(state.missing_files)
    to_hash = [f for f in plan.files if f.lfs and f.path not in present]
    corrupt: list[str] = []

    async def one(group: list[PlannedFile]) -> None:
        size = sum(f.size for f in group)
        timeout = max(HASH_MIN_TIMEOUT_S, size / HASH_MIN_BYTES_PER_S)
        result = await ssh.run(
            node,
            cmd.render(cmd.cd(repo_dir), cmd.sha256_files([f"blobs/{f.blob}" for f in group])),
            timeout=timeout,
        )
        sums = {}
        for line in result.stdout.splitlines():
            digest, _, name = line.partition("  ")
            sums[posixpath.basename(name.strip())] = digest.strip()
        corrupt.extend(f.path for f in group if sums.get(f.blob) != f.sha256)

    await asyncio.gather(*(one(g) for g in _groups(to_hash, parallel)))
    checked = weights_from_listing(node, plan, listing, corrupt)
    return msgspec.structs.replace(checked, hashed=True)
