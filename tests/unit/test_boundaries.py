"""The architecture's import rules (docs/ARCHITECTURE.md), checked by reading every module's
imports: a change that crosses a boundary fails here, not in review."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(APP.rglob("*.py")):
        yield path.relative_to(APP.parent).as_posix(), ast.parse(path.read_text("utf-8"))


def imported(tree: ast.Module) -> set[str]:
    """Every module name ``tree`` imports (top level or inside functions), fully qualified."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def importers(prefix: str) -> set[str]:
    """The app modules that import ``prefix`` or anything under it."""
    return {
        path
        for path, tree in modules()
        if any(name == prefix or name.startswith(prefix + ".") for name in imported(tree))
    }


def test_the_rules_see_every_module() -> None:
    assert len(list(modules())) > 60
    assert importers("asyncssh")  # the check would pass vacuously if it read nothing


@pytest.mark.parametrize(
    ("library", "allowed"),
    [
        ("asyncssh", "app/cluster/"),  # SSH: only the cluster package
        ("litestar", "app/web/"),  # HTTP serving: only the web package
        ("aiohttp", "app/proxy/"),  # the proxy's upstream client
        ("shlex", "app/cluster/commands.py"),  # quoting: one module
    ],
)
def test_a_library_is_imported_only_inside_its_package(library: str, allowed: str) -> None:
    outside = {path for path in importers(library) if not path.startswith(allowed)}
    assert outside == set(), f"{library} imported outside {allowed}"


def test_only_the_proxy_makes_proxied_upstream_calls() -> None:
    # The composition root builds the upstream client; nothing else but the proxy touches it.
    outside = {p for p in importers("app.proxy.upstream") if not p.startswith("app/proxy/")}
    assert outside <= {"app/runtime.py"}


def test_the_http_server_is_reached_in_two_places() -> None:
    # The entry point runs uvicorn; the lane reuses its protocol. Nothing else depends on it.
    assert importers("uvicorn") == {"app/__main__.py", "app/web/lane.py"}


def test_domain_packages_never_import_the_web_layer() -> None:
    outside = {p for p in importers("app.web") if not p.startswith("app/web/")}
    assert outside <= {"app/__main__.py"}


def _shlex_uses(tree: ast.AST) -> int:
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "shlex"
    )


def test_one_quoting_function() -> None:
    """Every remote argument is quoted by ``commands.quote_arg`` and nowhere else."""
    users = {path: _shlex_uses(tree) for path, tree in modules() if _shlex_uses(tree)}
    assert set(users) == {"app/cluster/commands.py"}
    commands = dict(modules())["app/cluster/commands.py"]
    inside = [
        node.name
        for node in ast.walk(commands)
        if isinstance(node, ast.FunctionDef) and _shlex_uses(node)
    ]
    assert inside == ["quote_arg"]
