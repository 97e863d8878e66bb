"""Docker-style option parsing and Go-template formatting for the fake CLIs.

argparse does not fit: docker accepts ``-aq`` clusters, ``--flag=value`` and ``--flag value``,
repeatable options, and stops parsing at the first positional for ``exec``. Templates follow
the subset of Go's text/template that scripts use with ``--format``: ``{{.Field}}``,
``{{.A.B}}``, ``{{json .}}`` / ``{{json .Field}}``, ``table`` headers, ``\\t`` / ``\\n``.

Stdlib only (imported by fakes under ``python -S``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows every fake command
if TYPE_CHECKING:
    from typing import Any


class UsageError(Exception):
    """A command line the real tool would reject; ``str()`` is its message."""


def parse(
    args: list[str],
    *,
    valued: Mapping[str, str] = {},
    boolean: Mapping[str, str] = {},
    stop_at_positional: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """Split ``args`` into ``(options, positionals)``.

    ``valued`` / ``boolean`` map every spelling (``-f``, ``--filter``) to a canonical key.
    A valued option's key maps to the list of its values (repeatable); a boolean's to True.
    With ``stop_at_positional`` everything from the first positional on is positional
    (``docker exec NAME cmd -x``). Raises UsageError for an unknown flag or a missing value.
    """
    options: dict[str, Any] = {}
    positionals: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positionals.extend(args[i + 1 :])
            break
        if arg.startswith("--"):
            name, has_value, value = arg.partition("=")
            if name in valued:
                if not has_value:
                    i += 1
                    if i >= len(args):
                        raise UsageError(f"flag needs an argument: {name}")
                    value = args[i]
                options.setdefault(valued[name], []).append(value)
            elif name in boolean and not has_value:
                options[boolean[name]] = True
            else:
                raise UsageError(f"unknown flag: {name}")
        elif arg.startswith("-") and len(arg) > 1:
            i = _parse_short_cluster(args, i, valued, boolean, options)
        else:
            positionals.append(arg)
            if stop_at_positional:
                positionals.extend(args[i + 1 :])
                break
        i += 1
    return options, positionals


def _parse_short_cluster(
    args: list[str], i: int, valued: Mapping[str, str], boolean: Mapping[str, str], options: dict
) -> int:
    """Parse ``-aq`` / ``-n5`` / ``-n 5`` at ``args[i]``; returns the index of its last part."""
    arg = args[i]
    for j in range(1, len(arg)):
        flag = "-" + arg[j]
        if flag in boolean:
            options[boolean[flag]] = True
        elif flag in valued:
            value = arg[j + 1 :]
            if not value:
                i += 1
                if i >= len(args):
                    raise UsageError(f"flag needs an argument: '{arg[j]}' in {flag}")
                value = args[i]
            options.setdefault(valued[flag], []).append(value)
            return i
        else:
            raise UsageError(f"unknown shorthand flag: '{arg[j]}' in {arg}")
    return i


_FIELD = re.compile(r"\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}")


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render one Go-template line against ``context``. Raises UsageError for an unknown
    field (the real CLI fails the same way) or a construct this subset does not know."""

    def field(match: re.Match[str]) -> str:
        value: Any = context
        for part in filter(None, match[2].split(".")):
            if not isinstance(value, Mapping) or part not in value:
                raise UsageError(
                    f'template: :1: executing "" at <.{match[2]}>: can\'t evaluate field {part}'
                )
            value = value[part]
        if match[1]:
            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return "[" + " ".join(map(str, value)) + "]"
        return "" if value is None else str(value)

    rendered = _FIELD.sub(field, template)
    if "{{" in rendered:
        raise UsageError(f"template: unsupported construct in {template!r}")
    return rendered


def format_rows(
    fmt: str, rows: list[Mapping[str, Any]], headers: Callable[[str], str]
) -> list[str]:
    """Lines for ``--format fmt``. A ``table`` format gets a header row (``headers(field)``)
    and columns aligned like docker's tabwriter; other formats print one line per row."""
    fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")
    table = fmt.startswith("table")
    if table:
        fmt = fmt[len("table") :].strip() or "{{.ID}}"
    lines = [render(fmt, row) for row in rows]
    if not table:
        return lines
    header = _FIELD.sub(lambda m: headers(m[2]), fmt)
    return align([header, *lines])


def align(lines: list[str], padding: int = 3) -> list[str]:
    """Align tab-separated cells into columns (docker's tabwriter with padding 3)."""
    cells = [line.split("\t") for line in lines]
    widths: list[int] = []
    for row in cells:
        for index, cell in enumerate(row[:-1]):
            if index >= len(widths):
                widths.append(0)
            widths[index] = max(widths[index], len(cell))
    return [
        "".join(cell.ljust(widths[i] + padding) for i, cell in enumerate(row[:-1])) + row[-1]
        for row in cells
    ]
