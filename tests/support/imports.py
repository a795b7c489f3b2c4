"""The import graph of ``package_api`` and ``plugin``, read from the source with ``ast`` (nothing is
imported, so a module that would fail to import is still read, and no app is built).

Every ``import`` statement of a module is one ``Import`` per name it brings in, with where it sits:
at module level (``module``, including under a module-level ``if`` or ``try``), inside a function
(``function``: runs when the function is first called, still a dependency), or under
``if TYPE_CHECKING:`` (``type_checking``: never runs, only the type checker follows it).
``from a.b import c`` is an import of the module ``a.b.c`` when that module exists, else of
``a.b``; importing a module is not counted as importing its parent packages, which Python runs
first (every module would otherwise depend on ``package_api/__init__.py`` and so on ``app.py``).
"""
from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("package_api", "plugin")

MODULE = "module"
FUNCTION = "function"
TYPE_CHECKING = "type_checking"


@dataclass(frozen=True)
class Import:
    """``source`` imports ``target`` (a module of ours, or any other dotted name), taking ``name``."""

    source: str
    target: str
    name: str  # the name taken from ``target`` (``from flask import request``: ``request``), or ``""``
    kind: str  # MODULE, FUNCTION or TYPE_CHECKING
    file: str  # relative to the root the modules were found under
    line: int

    def __str__(self) -> str:
        taken = f" ({self.name})" if self.name else ""
        return f"{self.file}:{self.line}: {self.source} imports {self.target}{taken} [{self.kind}]"


def source_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of ``package_api`` and ``plugin`` by dotted name (a package by its ``__init__.py``)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imports(modules: dict[str, Path], root: Path = ROOT) -> list[Import]:
    """Every import of every module in ``modules`` (found by ``source_modules(root)``)."""
    found: list[Import] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        reader = _Reader(name, path, str(path.relative_to(root)), modules)
        found.extend(reader.imports_in(tree.body, MODULE))
    return found


@dataclass
class _Reader:
    module: str
    path: Path
    file: str
    modules: dict[str, Path]

    def imports_in(self, nodes: Iterable[ast.AST], kind: str) -> Iterator[Import]:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                yield from self.imports_in(node.body, TYPE_CHECKING)
                yield from self.imports_in(node.orelse, kind)
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target, name in self.targets(node):
                    yield Import(self.module, target, name, kind, self.file, node.lineno)
            in_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from self.imports_in(ast.iter_child_nodes(node), FUNCTION if in_function and kind == MODULE else kind)

    def targets(self, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
        if isinstance(node, ast.Import):
            return [(alias.name, "") for alias in node.names]
        base = node.module or ""
        if node.level:  # relative: from the module's own package, one level up per further dot
            package = self.module.split(".") if self.path.name == "__init__.py" else self.module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        return [(f"{base}.{alias.name}" if f"{base}.{alias.name}" in self.modules else base, alias.name) for alias in node.names]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def within(name: str, *prefixes: str) -> bool:
    """Whether the dotted ``name`` is one of ``prefixes`` or inside one of them."""
    return any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The import cycles of a graph: its strongly connected components of more than one module
    (Tarjan's algorithm), each sorted, and a module that imports itself."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def shortest_cycle(members: list[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """One shortest way round a cycle of ``members`` (from ``cycles``), from and back to its first
    member: ``[a, b, c, a]``."""
    inside = set(members)
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        if source in inside and target in inside:
            graph.setdefault(source, set()).add(target)
    start = members[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph.get(node, ())):
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if successor not in previous:
                    previous[successor] = node
                    following.append(successor)
        frontier = following
    return [start]
