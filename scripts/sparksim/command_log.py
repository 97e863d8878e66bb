"""A node's ``commands.log``: every command string its SSH server ran, one JSON string a line.

The asyncssh server records through ``SimNode._record`` (in-process). Under OpenSSH nothing
calls back into the simulator, so the node's login shell (``login_shell``) appends each
command with :func:`append` and :class:`CommandLog` reads them back, giving tests the same
``node.commands`` they have with the asyncssh server.

Stdlib only (imported by the login shell under ``python -S``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload


def append(path: Path, command: str) -> None:
    """Append ``command`` as one JSON line. One ``write`` on an ``O_APPEND`` descriptor, so
    sessions recording at the same moment never interleave within a line."""
    # JSON, not the raw string: command strings may contain newlines.
    line = (json.dumps(command) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o664)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class CommandLog(Sequence[str]):
    """The commands in ``path``, read afresh at every access (a read-only list: indexing,
    slicing, ``len``, iteration, ``in`` and ``==`` against a list). An absent file is empty.
    A line still being written (not yet valid JSON) is left out until it is complete."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _read(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        commands = []
        for line in text.splitlines():
            try:
                commands.append(json.loads(line))
            except ValueError:
                continue
        return commands

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        return self._read()[index]

    def __len__(self) -> int:
        return len(self._read())

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CommandLog | list | tuple):
            return self._read() == list(other)
        return NotImplemented

    # Unhashable like a list (its contents change); typeshed types __hash__ as a method.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CommandLog({str(self.path)!r}, {self._read()!r})"
