"""The vLLM container's log on a Spark, read over SSH with ``docker logs``.

* ``tail(node, lines)`` returns the last ``lines`` lines (stdout and stderr merged in order,
  as the SSH transport's ``stream`` delivers them); bounded by ``timeout`` seconds.
* ``follow(node, lines)`` is the transport's stream of ``docker logs --tail N -f``: entering it
  starts the remote process, leaving it (or cancelling the task inside it) terminates it.
* Both first check that the container exists (one ``docker ps -a``), so a Spark without a
  launched model answers :class:`NoContainer` instead of docker's error text as a "log".

* ``tail_all(lines)`` reads every Spark's log at once and merges them by time: the timestamp
  vLLM writes on each line (``INFO 06-17 12:00:01 [file.py:12] …``, second resolution); a line
  without one (a traceback, a progress bar) keeps the time of the line before it; ties keep the
  Sparks' configured order and each log's own order. A Spark whose log cannot be read is left
  out and named in ``errors``.

Errors: ``NotConfigured`` (no Spark at all), :class:`UnknownNode`, :class:`NoContainer`,
:class:`LogsUnavailable` (a command that ran too long or failed) and the transport's
``SshError`` (unreachable Spark); each message is a sentence for the user.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import AsyncIterator

import msgspec

from app.cluster import commands as cmd
from app.cluster.ssh import SshError, SshTransport
from app.config import Config
from app.errors import NotConfigured, NotFound, Unavailable

LINE_TIME = re.compile(r"\b(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) (\d\d-\d\d \d\d:\d\d:\d\d)\b")
ALL = "all"


def line_time(line: str) -> str | None:
    """The ``MM-DD HH:MM:SS`` vLLM wrote on ``line``, or None."""
    match = LINE_TIME.search(line)
    return match.group(1) if match else None


class LogEntry(msgspec.Struct, frozen=True):
    node: str
    t: str | None
    line: str


class MergedLog(msgspec.Struct, frozen=True):
    node: str  # "all"
    container: str
    entries: list[LogEntry]
    errors: dict[str, str]


DEFAULT_LINES = 200
MAX_LINES = 5000
MAX_LINE_CHARS = 8192  # a progress bar rewritten with \r can make one enormous "line"
TIMEOUT_S = 15.0


class UnknownNode(NotFound):
    """No Spark of that name is configured."""


class NoContainer(NotFound):
    """The Spark has no vLLM container (no model was launched there)."""


class LogsUnavailable(Unavailable):
    """docker did not answer in time, or failed."""


def clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " …"


class VllmLogs:
    def __init__(self, config: Config, ssh: SshTransport, *, timeout: float = TIMEOUT_S) -> None:
        self._config = config
        self._ssh = ssh
        self._timeout = timeout
        self.container = config.vllm.container

    def resolve(self, node: str | None) -> str:
        """The Spark to read from: ``node``, or the head when None. Raises NotConfigured or
        UnknownNode."""
        if not self._config.configured:
            raise NotConfigured()
        if node is None or node == "":
            return self._config.sparks[0].name
        if self._config.spark(node) is None:
            names = ", ".join(s.name for s in self._config.sparks)
            raise UnknownNode(f"No Spark named {node[:64]!r} is configured (known: {names}).")
        return node

    def _command(self, lines: int, *, follow: bool) -> str:
        return cmd.render(cmd.container_logs(self.container, tail=lines, follow=follow))

    async def ensure_container(self, node: str) -> None:
        """Raise NoContainer unless the vLLM container exists on ``node`` (running or not)."""
        try:
            async with asyncio.timeout(self._timeout):  # connecting included
                result = await self._ssh.run(
                    node, cmd.render(cmd.container_list(self.container)), timeout=self._timeout
                )
        except TimeoutError:
            raise LogsUnavailable(
                f"{node}: docker did not answer within {self._timeout:g} s."
            ) from None
        if not result.ok:
            raise LogsUnavailable(
                f"{node}: docker ps failed (exit status {result.exit_status}): {result.tail(2)}"
            )
        if not result.stdout.strip():
            raise NoContainer(
                f"{node} has no container named {self.container!r}: no model has been "
                "launched there (or it was removed)."
            )

    async def tail(self, node: str, lines: int) -> list[str]:
        """The last ``lines`` lines of the container log on ``node`` (resolved already)."""
        await self.ensure_container(node)
        collected: deque[str] = deque(maxlen=lines + 1)  # + the possible EOF artefact
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._ssh.stream(node, self._command(lines, follow=False)) as output,
            ):
                async for line in output:
                    collected.append(clip(line))
            if collected and collected[-1] == "":
                collected.pop()  # the stream's artefact at EOF, not a line of the log
            while len(collected) > lines:
                collected.popleft()
        except TimeoutError:
            raise LogsUnavailable(
                f"{node}: docker logs did not finish within {self._timeout:g} s."
            ) from None
        return list(collected)

    async def tail_all(self, lines: int) -> MergedLog:
        """The last ``lines`` lines of all Sparks' logs, merged by time (module docstring)."""
        names = [s.name for s in self._config.sparks]
        results = await asyncio.gather(
            *(self.tail(name, lines) for name in names), return_exceptions=True
        )
        keyed: list[tuple[str, int, int, LogEntry]] = []
        errors: dict[str, str] = {}
        for order, (name, result) in enumerate(zip(names, results, strict=True)):
            if isinstance(result, SshError):
                errors[name] = result.message
                continue
            if isinstance(result, (NoContainer, LogsUnavailable)):
                errors[name] = result.message
                continue
            if isinstance(result, BaseException):
                raise result
            current = ""
            for index, line in enumerate(result):
                current = line_time(line) or current
                keyed.append((current, order, index, LogEntry(name, current or None, line)))
        keyed.sort(key=lambda item: item[:3])
        return MergedLog(
            node=ALL,
            container=self.container,
            entries=[entry for *_, entry in keyed[-lines:]],
            errors=errors,
        )

    def follow(
        self, node: str, lines: int
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[str]]:
        """The live log of ``node``: the last ``lines`` lines, then every new one until the
        container stops. Call ``ensure_container`` first for a clean NoContainer."""
        return self._ssh.stream(node, self._command(lines, follow=True))
