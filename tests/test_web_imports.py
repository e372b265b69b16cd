"""Sign-in and the database layer import in one direction (STYLE 16): ``web.database`` gets the
request's secret from a provider instead of importing sign-in, and ``web.auth`` no longer reaches
into ``web.api`` to list its routes — so none of these modules is part of an import cycle."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONE_WAY = ("web.database", "web.sessions", "web.identity", "web.guard", "web.auth")


def _imports() -> dict[str, set[str]]:
    """module → the project modules it imports (anywhere in its body, functions included)."""
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for package in ("web", "registry", "geo") for p in (ROOT / package).rglob("*.py")}
    graph = {}
    for module, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                          for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[module] = found & files.keys()
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def test_sign_in_and_the_database_layer_are_in_no_import_cycle():
    graph = _imports()
    assert {module for module in ONE_WAY if module in _reachable(graph, module)} == set()
