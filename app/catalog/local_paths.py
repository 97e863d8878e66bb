"""``validate_local_path``: may a directory be served as a local model?

First by shape (absolute, normalised, plain characters, inside one of ``models.local_roots``),
then on every Spark over SSH: the real path with every symlink followed must still be inside a
(real) root and hold a ``config.json``. Any refusal is one sentence naming the node and why.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Sequence

from app.catalog.models import local_path_problem
from app.cluster import commands as cmd
from app.cluster.ssh import SshError, SshTransport
from app.errors import Invalid

CHECK_TIMEOUT_S = 15.0


class LocalPathRefused(Invalid):
    """The path cannot be used; ``message`` says why."""


def inside(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root + "/")


def check_shape(path: str, roots: Sequence[str]) -> None:
    """Raise :class:`LocalPathRefused` unless ``path`` is well-formed and under a root."""
    problem = local_path_problem(path)
    if problem:
        raise LocalPathRefused(f"local_path {problem}.")
    if not roots:
        raise LocalPathRefused(
            "No model roots are configured (models.local_roots), so no local path is allowed."
        )
    if not any(inside(path, posixpath.normpath(root)) for root in roots):
        raise LocalPathRefused(
            f"local_path must be inside one of the model roots: {', '.join(roots)}."
        )


async def _real(ssh: SshTransport, node: str, path: str) -> str | None:
    result = await ssh.run(node, cmd.render(cmd.real_path(path)), timeout=CHECK_TIMEOUT_S)
    return result.stdout.strip() if result.ok and result.stdout.strip() else None


async def check_on_node(ssh: SshTransport, node: str, path: str, roots: Sequence[str]) -> None:
    try:
        real = await _real(ssh, node, path)
        if real is None:
            raise LocalPathRefused(f"{node}: {path} does not exist.")
        real_roots = [
            r for r in await asyncio.gather(*(_real(ssh, node, root) for root in roots)) if r
        ]
        if not any(inside(real, root) for root in real_roots):
            raise LocalPathRefused(f"{node}: {path} resolves to {real}, outside the model roots.")
        has_config = await ssh.run(
            node,
            cmd.render(cmd.test_file(cmd.join_path(real, "config.json"))),
            timeout=CHECK_TIMEOUT_S,
        )
        if not has_config.ok:
            raise LocalPathRefused(f"{node}: {path} has no config.json (not a model directory).")
    except SshError as err:
        raise LocalPathRefused(f"{node}: could not check {path}: {err.message}") from None


async def validate_local_path(
    ssh: SshTransport, nodes: Sequence[str], path: str, roots: Sequence[str]
) -> None:
    """Raise :class:`LocalPathRefused` unless ``path`` is a usable model directory on every
    node. Checks run concurrently; the first node (in config order) that refuses is reported."""
    check_shape(path, roots)
    results = await asyncio.gather(
        *(check_on_node(ssh, n, path, roots) for n in nodes), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
