"""Mechanical safety rules over recorder/ and kreplay_dap/: short functions, no recursion."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("recorder", "kreplay_dap")
MAX_FUNCTION_LINES = 60

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def source_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def functions(tree: ast.Module) -> Iterator[tuple[str, str | None, FunctionNode]]:
    """(qualified name, enclosing class, node) for every function, nested ones included."""
    stack: list[tuple[ast.AST, str, str | None]] = [(tree, "", None)]
    while stack:
        node, prefix, owner = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                stack.append((child, f"{prefix}{child.name}.", child.name))
            elif isinstance(child, FunctionNode):
                name = f"{prefix}{child.name}"
                yield name, owner, child
                stack.append((child, f"{name}.", None))
            else:
                stack.append((child, prefix, owner))


def own_calls(function: FunctionNode) -> Iterator[ast.Call]:
    """Calls in a function's own body, not in the functions or classes nested in it."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, FunctionNode | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def call_graph(tree: ast.Module) -> dict[str, set[str]]:
    found = list(functions(tree))
    names = {name for name, _, _ in found}
    graph: dict[str, set[str]] = {}
    for name, owner, node in found:
        targets: set[str] = set()
        for call in own_calls(node):
            target = call.func
            if isinstance(target, ast.Name) and target.id in names:
                targets.add(target.id)
            elif (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id in {"self", "cls"}
                and owner is not None
                and f"{owner}.{target.attr}" in names
            ):
                targets.add(f"{owner}.{target.attr}")
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """An iterative depth-first search; returns one cycle, or None."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, set())))))
    return None


@pytest.mark.parametrize("path", source_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_functions_are_at_most_60_lines(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    too_long = [
        f"{name} ({(node.end_lineno or node.lineno) - node.lineno + 1} lines)"
        for name, _, node in functions(tree)
        if (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not too_long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {too_long}"


@pytest.mark.parametrize("path", source_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_recursion(path: Path) -> None:
    cycle = find_cycle(call_graph(ast.parse(path.read_text(encoding="utf-8"))))
    assert cycle is None, f"{path.name}: recursion through {' -> '.join(cycle)}"


def test_the_checker_finds_direct_and_mutual_recursion() -> None:
    direct = ast.parse("def f(n):\n    return f(n - 1)\n")
    mutual = ast.parse(
        "class A:\n    def a(self):\n        return self.b()\n"
        "    def b(self):\n        return self.a()\n"
    )
    clean = ast.parse("def f():\n    return g()\ndef g():\n    return 1\n")
    assert find_cycle(call_graph(direct)) == ["f", "f"]
    assert find_cycle(call_graph(mutual)) == ["A.a", "A.b", "A.a"]
    assert find_cycle(call_graph(clean)) is None


def test_the_checker_measures_function_length() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(70))
    tree = ast.parse(f"def long():\n{body}\n")
    (_, _, node) = next(functions(tree))
    assert (node.end_lineno or 0) - node.lineno + 1 == 71


def test_recorder_imports_no_ide_dependency() -> None:
    for path in (ROOT / "recorder").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            banned = [
                n
                for n in names
                if n.split(".")[0]
                in {"kreplay_dap", "pygls", "debugpy", "click", "rich", "lsprotocol"}
            ]
            assert not banned, f"{path}: recorder must not import {banned}"
