"""The package's structure: no import cycles between wenulake's modules (imports inside functions included),
and no developer tools in the executors' archive."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

from wenulake.executor_package import build_package

PACKAGE = Path(__file__).resolve().parent.parent.parent / "wenulake"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def imports(name: str) -> set[str]:
    """The wenulake modules `name` imports anywhere in its file (a package's own submodules aside: importing
    `wenulake.a.b` runs `wenulake.a` first, which is no edge of the graph)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {m for m in found if (m in MODULES and m != name and not m.startswith(name + ".")) or False} - {
        name
    }


def cycles() -> list[list[str]]:
    graph = {name: sorted(imports(name)) for name in MODULES}
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name)
    return found


def test_the_graph_sees_function_level_imports():
    assert "wenulake.spark" in imports(
        "wenulake.cluster"
    )  # `from wenulake.spark import get_spark` in probe()
    assert "wenulake.warehouse" in imports("wenulake.query")


def test_no_module_of_wenulake_is_part_of_an_import_cycle():
    assert cycles() == []


def test_the_executor_archive_leaves_the_developer_tools_out(tmp_path):
    names = zipfile.ZipFile(build_package(tmp_path / "wenulake.zip")).namelist()
    assert "wenulake/query.py" in names
    assert "wenulake/executor_package.py" in names
    assert not [n for n in names if n.startswith("wenulake/devtools/")]
