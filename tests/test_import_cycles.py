"""No import cycles among xfer_scale's modules: every import statement counts, at any depth (a
function-level import too), read with ast; a package's __init__ importing its own submodules,
and a submodule importing its parent package, are not cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import xfer_scale

PACKAGE = Path(xfer_scale.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for file in PACKAGE.rglob("*.py"):
        parts = list(file.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return found


def _imported(name: str, file: Path, node: ast.AST) -> list[str]:
    """The module names an import statement in module `name` names (a `from X import y` names
    X, and X.y in case y is a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: from the module's package, up level - 1 packages
        package = name.split(".") if file.name == "__init__.py" else name.split(".")[:-1]
        base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, file in modules.items():
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            for target in _imported(name, file, node):
                while target and target not in modules:  # `pkg.mod.attr` -> `pkg.mod`
                    target = target.rpartition(".")[0]
                if target and target != name and not target.startswith(f"{name}.") \
                        and not name.startswith(f"{target}."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checker_finds_a_cycle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert _imported("xfer_scale.status.cells", Path("cells.py"),
                     ast.parse("from ..cli import FAILURE_FILE").body[0]) == ["xfer_scale.cli", "xfer_scale.cli.FAILURE_FILE"]
    nested = ast.parse("def f():\n    from xfer_scale import cli\n")
    assert [n for node in ast.walk(nested) for n in _imported("m", Path("m.py"), node)] == ["xfer_scale", "xfer_scale.cli"]


def test_xfer_scale_has_no_import_cycle():
    graph = import_graph()
    assert {"xfer_scale.readers.registry", "xfer_scale.cli", "xfer_scale.status.cells"} <= set(graph)
    assert "xfer_scale.readers.registry" in graph["xfer_scale.readers.ranking"]
    assert cycles(graph) == []
