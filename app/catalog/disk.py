"""Model weights on disk: how much each model takes on each Spark, and deleting a model's HF
cache directory everywhere.

:class:`DiskScanner` keeps a cached scan (one ``du`` per node) that the API answers from; it is
refreshed in the background on an interval and right after every change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import msgspec

from app.catalog.models import ModelDef, weights_dir
from app.catalog.store import Catalog
from app.cluster import commands as cmd
from app.cluster.ssh import SshError, SshTransport

log = logging.getLogger("spark_control.disk")

SCAN_TIMEOUT_S = 60.0
DELETE_TIMEOUT_S = 300.0


class NodeFreed(msgspec.Struct, frozen=True):
    ok: bool
    freed_bytes: int
    detail: str


class DiskDeletion(msgspec.Struct, frozen=True):
    key: str
    path: str
    nodes: dict[str, NodeFreed]


def parse_du(output: str) -> dict[str, int]:
    """``du -sk`` lines (``<KiB>\\t<path>``) -> {path: bytes}."""
    sizes: dict[str, int] = {}
    for line in output.splitlines():
        size, _, path = line.partition("\t")
        if path and size.strip().isdigit():
            sizes[path.strip()] = int(size) * 1024
    return sizes


class DiskScanner:
    def __init__(
        self,
        ssh: SshTransport,
        nodes: Sequence[str],
        hf_home: str,
        catalog: Callable[[], Catalog],
        *,
        interval_s: float = 300.0,
    ) -> None:
        self._ssh = ssh
        self._nodes = list(nodes)
        self._hf_home = hf_home
        self._catalog = catalog
        self._interval = interval_s
        self._sizes: dict[str, dict[str, int | None]] = {}
        self._wake = asyncio.Event()
        self.scanned = asyncio.Event()

    def on_disk(self, key: str) -> dict[str, int | None]:
        """{node: bytes or None when absent (or not scanned yet)} for ``key``."""
        known = self._sizes.get(key, {})
        return {node: known.get(node) for node in self._nodes}

    def refresh_soon(self) -> None:
        self._wake.set()

    async def _scan_node(self, node: str, models: Sequence[ModelDef]) -> dict[str, int | None]:
        dirs = {m.key: weights_dir(m, self._hf_home) for m in models}
        # du prints paths as the shell expanded them (~ becomes $HOME): match home-relative
        # dirs by suffix. "; true" keeps the output when some dirs are absent (du exits 1).
        script = cmd.render(cmd.dir_sizes(dirs.values()), ("true",), sep=" ; ")
        result = await self._ssh.run(node, script, timeout=SCAN_TIMEOUT_S)
        sizes = parse_du(result.stdout)
        found: dict[str, int | None] = {}
        for key, path in dirs.items():
            match = next(
                (size for p, size in sizes.items() if p == path or p.endswith("/" + str(path))),
                None,
            )
            found[key] = match
        return found

    async def scan(self) -> None:
        models = self._catalog().models
        results = await asyncio.gather(
            *(self._scan_node(n, models) for n in self._nodes), return_exceptions=True
        )
        sizes: dict[str, dict[str, int | None]] = {m.key: {} for m in models}
        for node, result in zip(self._nodes, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, SshError):
                    log.warning("disk scan of %s failed: %s", node, type(result).__name__)
                continue
            for key, size in result.items():
                sizes.setdefault(key, {})[node] = size
        self._sizes = sizes
        self.scanned.set()

    async def run(self) -> None:
        """Scan now, then every ``interval_s`` or when ``refresh_soon`` is called."""
        while True:
            try:
                await self.scan()
            except Exception:
                log.exception("disk scan failed")
            self._wake.clear()
            try:
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def delete(self, model: ModelDef) -> DiskDeletion:
        """Delete ``model``'s HF cache directory on every node and report what was freed."""
        path = weights_dir(model, self._hf_home)

        async def one(node: str) -> NodeFreed:
            try:
                script = cmd.render(cmd.dir_sizes([path]), ("true",), sep=" ; ")
                before = parse_du(
                    (await self._ssh.run(node, script, timeout=SCAN_TIMEOUT_S)).stdout
                )
                size = next(iter(before.values()), 0)
                result = await self._ssh.run(
                    node, cmd.render(cmd.remove_tree(path)), timeout=DELETE_TIMEOUT_S
                )
            except SshError as err:
                return NodeFreed(False, 0, err.message)
            if not result.ok:
                return NodeFreed(False, 0, f"rm failed: {result.tail(1)}")
            return NodeFreed(True, size, "deleted" if size else "nothing to delete")

        outcomes = await asyncio.gather(*(one(n) for n in self._nodes))
        self.refresh_soon()
        return DiskDeletion(
            key=model.key, path=str(path), nodes=dict(zip(self._nodes, outcomes, strict=True))
        )
