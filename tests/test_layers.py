"""The package's layering, checked from the source: imports point down, and nothing cycles.

Every ``import`` in ``diagnostics/`` counts, at the top of a module or inside a function (a
late import is still a dependency).  The rules are those of ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "diagnostics"

# What each layer may import from the package (itself included).  A layer not listed is
# imported by nothing below it.
ALLOWED: dict[str, frozenset[str]] = {
    "model": frozenset({"model"}),
    "explain": frozenset({"model", "explain"}),
    "render": frozenset({"model", "explain", "render"}),
    "tls": frozenset({"model", "explain", "tls"}),
    "pki": frozenset({"model", "explain", "tls", "pki"}),
    "probes": frozenset({"model", "explain", "tls", "probes"}),
    "listener": frozenset({"model", "explain", "tls", "listener"}),
    "lab": frozenset({"model", "explain", "tls", "pki", "probes", "listener", "render", "lab"}),
    "daemon": frozenset(
        {"model", "explain", "tls", "pki", "probes", "listener", "render", "lab", "daemon"}
    ),
    "cli": frozenset(
        {"model", "explain", "tls", "pki", "probes", "listener", "render", "lab", "daemon", "cli"}
    ),
}
# Libraries the pure layers never import: they run without a reactor or an OpenSSL binding.
PURE = frozenset({"model", "explain", "render"})
IMPURE_LIBRARIES = frozenset({"twisted", "OpenSSL", "zope"})
# The only modules at the top of the package: the public API and ``python -m diagnostics``.
TOP_LEVEL = frozenset({"__init__.py", "__main__.py", "py.typed"})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module ``name`` imports, absolute, with its line."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = modules()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                yield (candidate if candidate in known else source), node.lineno


def layer(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "diagnostics" or parts[1].startswith("__"):
        return None
    return parts[1]


def test_the_top_of_the_package_holds_only_the_public_api() -> None:
    assert {p.name for p in PACKAGE.iterdir() if not p.is_dir()} - {"__pycache__"} <= TOP_LEVEL
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_point_down(name: str) -> None:
    """A module imports only from its own layer and the layers below it."""
    own = layer(name)
    if own is None:
        return  # diagnostics/__init__ and __main__: the entry points, above everything
    broken = []
    for imported, line in imports(name, modules()[name]):
        other = layer(imported)
        if imported.startswith("diagnostics") and other is not None and other not in ALLOWED[own]:
            broken.append(f"line {line}: {imported} ({own} may use {sorted(ALLOWED[own])})")
        if own in PURE and imported.split(".")[0] in IMPURE_LIBRARIES:
            broken.append(f"line {line}: {imported} (the {own} layer is pure)")
    assert not broken, f"{name} breaks the layering:\n" + "\n".join(broken)


def test_no_import_cycle() -> None:
    """No module reaches itself through the modules it imports."""
    known = modules()
    graph = {
        name: {i for i, _ in imports(name, path) if i in known and i != name}
        for name, path in known.items()
    }
    # A package's __init__ that a submodule imports would otherwise count as a cycle with
    # every submodule the __init__ names; packages here re-export nothing, so keep them.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


def test_no_test_imports_a_test_module() -> None:
    """Shared helpers live in tests/support: a test module is never imported by another, so
    running one file never collects (or depends on) another's tests."""
    offenders = []
    for path in sorted((PACKAGE.parent / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                    offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert offenders == []
