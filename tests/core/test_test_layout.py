"""The suite's own layout: tests by concept, helpers shared only through `support`.

Walks every Python file under `tests/` with `ast`. Rules:
1. Every test module (`test_*.py`) sits in one concept folder of `CONCEPTS`, directly;
   none at the top of `tests/`, none in `support/`, no two with one basename (pytest
   imports them by basename, from `pythonpath = ["tests"]`).
2. No module under `tests/` imports a test module: what two suites share lives in
   `tests/support/`.
3. The runtimes are written once, in `support/runtimes.py`: no other file of the suite
   spells a list, tuple, set or map of two or more runtime names (it asks `names`, or
   the `runtime` parameter, instead); and that declaration is the command line's
   `vectors verify --runtime all`.
4. Every Lua driver a helper loads is a file of `support/lua/`, and every file there
   is loaded by some module of the suite.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support.drivers import LUA
from support.runtimes import ALIASES, names

from genvm_policy.cli.commands.vectors import ALL

TESTS = Path(__file__).resolve().parents[1]
CONCEPTS = ("authoring", "cli", "core", "differential", "hardening", "node", "operator")
RUNTIME_NAMES = frozenset(names()) | frozenset(ALIASES)
OWN_LISTS = {
    "cli/test_benchmarks_smoke.py": "the runtimes the benchmarks time are benchmarks' rows",
}
"""Files whose runtime literals are another program's output, with the reason."""


def python_files() -> list[Path]:
    """Every Python file of the suite, helpers included."""
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def suite_modules() -> list[Path]:
    """Every test module of the suite, wherever it is."""
    return [p for p in python_files() if p.name.startswith("test_")]


def imported(tree: ast.AST) -> list[str]:
    """Every module name an `import` or `from … import` of `tree` names (and each name it takes)."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def runtime_literals(tree: ast.AST) -> list[int]:
    """Lines of the literals in `tree` that spell two or more runtime names."""
    lines = []
    for node in ast.walk(tree):
        items: list[ast.expr | None] = []
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        spelled = [
            i.value
            for i in items
            if isinstance(i, ast.Constant) and isinstance(i.value, str) and i.value in RUNTIME_NAMES
        ]
        if len(spelled) >= 2 and isinstance(node, ast.expr):
            lines.append(node.lineno)
    return lines


def test_every_test_module_is_in_a_concept_folder() -> None:
    misplaced = [
        p.relative_to(TESTS).as_posix()
        for p in suite_modules()
        if len(p.relative_to(TESTS).parts) != 2 or p.parent.name not in CONCEPTS
    ]
    assert misplaced == []
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= {*CONCEPTS, "support", "data"}, sorted(folders)


def test_test_module_basenames_are_unique() -> None:
    seen: dict[str, str] = {}
    for path in suite_modules():
        where = path.relative_to(TESTS).as_posix()
        assert path.name not in seen, f"{where} and {seen[path.name]}"
        seen[path.name] = where


@pytest.mark.parametrize("path", python_files(), ids=lambda p: p.relative_to(TESTS).as_posix())
def test_no_module_imports_a_test_module(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = [name for name in imported(tree) if any(p.startswith("test_") for p in name.split("."))]
    assert bad == [], f"{path.relative_to(TESTS)} imports {bad}: move what it shares to support/"


def test_the_runtimes_are_declared_once() -> None:
    declaration = TESTS / "support" / "runtimes.py"
    spelled = {}
    for path in python_files():
        where = path.relative_to(TESTS).as_posix()
        if path == declaration or where in OWN_LISTS:
            continue
        lines = runtime_literals(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        if lines:
            spelled[where] = lines
    assert spelled == {}, "ask support.runtimes.names() or take the `runtime` parameter"
    assert tuple(names()) == ALL


def test_the_lint_sees_a_runtime_list() -> None:
    assert runtime_literals(ast.parse('X = ["lua53", "mlua"]\nY = ("lua53", "other")')) == [1]
    assert runtime_literals(ast.parse('Z = {"python": 1, "lua": 2}')) == [1]


def test_the_lint_sees_an_import_of_a_test_module() -> None:
    tree = ast.parse("from test_hook import Node\nimport support.test_x\nfrom support import y")
    assert sorted(imported(tree)) == [
        "support",
        "support.test_x",
        "support.y",
        "test_hook",
        "test_hook.Node",
    ]


def test_every_lua_driver_is_loaded() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in python_files())
    unused = [
        p.name
        for p in sorted(LUA.glob("*.lua"))
        if f'driver("{p.stem}")' not in sources and f'driver_path("{p.stem}")' not in sources
    ]
    assert unused == []
