"""The shape of the imports: no circles, and the layers the README promises.

Read from the source with `ast` (no module is imported): an import inside a function runs late
and cannot start a circle, so circles count only what runs when a module is loaded, while the
layer rules count every import wherever it is written.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from assistant import PROJECT_ROOT

PACKAGES = ("assistant", "localspeech", "tools", "ops", "page", "bench", "wavcodec")


def module_files() -> dict[str, Path]:
    found = {"app": PROJECT_ROOT / "app.py"}
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = module_files()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _load_time_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module loads: top level, or inside if/try/with."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            found += _load_time_imports(node.body) + _load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for part in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                found += _load_time_imports(part)
        elif isinstance(node, ast.With):
            found += _load_time_imports(node.body)
    return found


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The project modules an import statement loads (a package's __init__ included)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    # A module's own packages are loading already when it runs: importing a sibling through
    # them waits on nothing, but taking a name from one of them (`from pkg import NAME`) does.
    ancestors = {".".join(module.split(".")[:end]) for end in range(1, module.count(".") + 1)}
    takes_names = isinstance(node, ast.ImportFrom) and any(
        f"{names[0]}.{alias.name}" not in MODULES for alias in node.names
    )
    loaded = set()
    for name in names:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
            prefix = ".".join(parts[:end])
            if prefix not in MODULES or prefix == module:
                continue
            if prefix in ancestors and not (takes_names and prefix == names[0]):
                continue
            loaded.add(prefix)
    return loaded


@cache
def load_time_graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges: set[str] = set()
        for node in _load_time_imports(tree.body):
            edges |= _targets(module, node)
        graph[module] = edges
    return graph


def every_import(module: str) -> set[str]:
    """Each module name imported anywhere in `module`, as written (absolute)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_finds_a_circle_and_accepts_a_chain():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_relative_and_package_imports_are_resolved():
    node = ast.parse("from .base import Tool").body[0]
    assert _targets("tools.registry", node) == {"tools.base"}
    node = ast.parse("from tools import grievances").body[0]
    assert _targets("tools.registry", node) == {"tools.grievances"}
    node = ast.parse("from assistant.providers import PROVIDERS").body[0]
    assert _targets("assistant.providers.azure", node) == {"assistant.providers"}
    assert _targets("page.trace", node) == {"assistant", "assistant.providers"}


def test_no_module_imports_itself_in_a_circle_while_loading():
    graph = load_time_graph()
    assert len(graph) > 50, "the walk found the project's modules"
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def _outside(module: str, allowed: tuple[str, ...], forbidden: str) -> list[str]:
    return sorted(
        name
        for name in every_import(module)
        if (name == forbidden or name.startswith(forbidden + "."))
        and not name.startswith(allowed)
    )


@pytest.mark.parametrize("module", [m for m in MODULES if m.split(".")[0] == "tools"])
def test_tools_import_nothing_from_the_engine(module):
    assert _outside(module, (), "assistant") == []


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("localspeech")])
def test_the_offline_engine_imports_nothing_from_assistant(module):
    assert _outside(module, (), "assistant") == []


@pytest.mark.parametrize("module", [m for m in MODULES if m.split(".")[0] in ("assistant", "tools")])
def test_the_engine_and_tools_load_without_the_one_off_operations(module):
    graph = load_time_graph()
    assert not {m for m in graph[module] if m == "ops" or m.startswith("ops.")}
