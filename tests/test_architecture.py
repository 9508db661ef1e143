"""The package's import graph: no cycles (imports inside functions count), and nothing below
``geoanom/cli/`` imports the command line. Built from the source with ``ast``, so an import
hidden in a function body is seen as well as one at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "geoanom"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The package module a dotted import name lands in (``a.b.c`` -> ``a.b`` when ``c`` is
    a name inside module ``a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = module.split(".") if is_package else module.split(".")[:-1]
        if node.level:
            base = base[:len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        return [f"{prefix}.{a.name}" for a in node.names] + [prefix]
    return []


def import_graph() -> tuple[dict[str, set[str]], int, int]:
    """Module -> the package modules it imports; and the counts of package-internal imports
    at the top level and inside functions."""
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    top = inner = 0
    for m, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_function = set()
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                in_function.update(id(n) for n in ast.walk(fn) if n is not fn)
        for node in ast.walk(tree):
            names = [n for n in _imported(node, m, path.name == "__init__.py")
                     if n == "geoanom" or n.startswith("geoanom.")]
            targets = {_owner(n, modules) for n in names} - {None, m}
            # ``from geoanom.x import y`` lands in geoanom.x.y when that is a module, else x
            targets = {t for t in targets if not any(o != t and o.startswith(t + ".")
                                                     for o in targets)} or targets
            if targets:
                if id(node) in in_function:
                    inner += 1
                else:
                    top += 1
            edges[m].update(targets)
    return edges, top, inner


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_imports_inside_functions():
    edges, top, inner = import_graph()
    assert top > 100 and inner > 0
    # geoanom.cli.detector imports the detector API inside its commands (lazily, for speed)
    assert "geoanom.detector.api" in edges["geoanom.cli.detector"]


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    edges, _, _ = import_graph()
    found = cycles(edges)
    assert not found, "import cycles (imports inside functions count): " + "; ".join(
        " <-> ".join(c) for c in found)


def test_nothing_below_cli_imports_cli():
    edges, _, _ = import_graph()
    up = sorted(m for m, ts in edges.items()
                if not m.startswith("geoanom.cli") and m != "geoanom.__main__"
                and any(t == "geoanom.cli" or t.startswith("geoanom.cli.") for t in ts))
    assert not up, "modules outside geoanom/cli/ that import geoanom.cli: " + ", ".join(up)
