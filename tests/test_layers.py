"""The layers flow one way: ``web → registry → geo → PostGIS`` (docs/architecture.md).

Read from the source with ``ast`` (nothing is imported), counting imports inside functions too:
``geo`` imports nothing from ``registry`` or ``web``, ``registry`` nothing from ``web``, and no
package's modules import one another in a circle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("geo", "registry", "web")
FORBIDDEN = {"geo": ("registry", "web"), "registry": ("web",), "web": ()}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, package: str = "") -> set[str]:
    """Every module ``path`` (in ``package``) imports, as dotted names (``from x import y`` counts
    ``x`` and ``x.y``; relative imports are resolved against ``package``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def graph() -> dict[str, set[str]]:
    """Module → the project modules it imports."""
    paths = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    return {name: {m for m in imported(path, name if path.name == "__init__.py" else name.rpartition(".")[0])
                   if m in paths and m != name}
            for name, path in paths.items()}


def layer(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("lower", PACKAGES)
def test_a_lower_layer_imports_nothing_from_a_higher_one(lower):
    wrong = sorted(f"{module} imports {target}" for module, targets in graph().items() if layer(module) == lower
                   for target in targets if layer(target) in FORBIDDEN[lower])
    assert wrong == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def circles() -> list[list[str]]:
    # a package's __init__ importing its own modules is how Python packages work, not a circle
    return cycles({module: {t for t in targets if not module.startswith(t + ".")}
                   for module, targets in graph().items()})


def test_no_modules_import_one_another_in_a_circle():
    assert circles() == []


def test_the_import_graph_sees_function_level_and_relative_imports(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from registry.scope import Scope\n    from .maps import views\n",
                      encoding="utf-8")
    names = imported(source, "web")
    assert {"registry.scope", "registry.scope.Scope", "web.maps", "web.maps.views"} <= names
