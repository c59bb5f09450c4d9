"""The core stays pure and float-free (DESIGN invariants 1 and 2; SPEC §1.1).

Walks every core module of `genvm_policy/` with `ast` and fails on a float
literal, a `float(` call, true division (`/`, `/=`), any `math.` use or import,
or an import of a module that does I/O or reads host state.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# The shells: the only modules allowed to read files, the clock or the host.
SHELL_MODULES = [
    "cli.py",
    "commands/",
    "sources.py",
    "yamlsource.py",
    "install.py",
    "install_fs.py",
    "install_status.py",
    "install_lock.py",
    "install_config.py",
    "nodetree.py",
    "yamledit.py",
    "reload.py",
    "runtimes.py",
    "resources.py",
    "bundle.py",
    "vectors/fixtures.py",  # reads the bundled examples at generation time
    "demohost.py",  # host shell: drives a Lua state that reads the installed hook
    "installcheck.py",  # install shell: reads vector files, drives lupa and lua5.3
    "installgrid.py",  # install shell: drives lupa and lua5.3 over the installed hook
    "diversity.py",  # tooling: float entropy for display (SPEC §12)
    "svgplot.py",  # tooling: float layout of the chart (SPEC §12)
]

FORBIDDEN_IMPORTS = {
    "os", "io", "pathlib", "time", "random", "secrets", "logging", "locale", "yaml",
    "tomllib", "json", "sys", "subprocess", "socket", "math",
}  # fmt: skip

# (module, import) pairs tolerated for now, each with its reason.

PACKAGE = Path(__file__).resolve().parent.parent / "genvm_policy"


def core_modules() -> list[Path]:
    """Every `.py` file of the package that is not a shell module."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if not any(rel == s or (s.endswith("/") and rel.startswith(s)) for s in SHELL_MODULES):
            found.append(path)
    return found


def violations(source: str, name: str = "<snippet>") -> list[str]:
    """The lint findings of one module's source, as `name:line: what`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        what = None
        if isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            what = f"float literal {node.value!r}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            what = "float( call" if node.func.id == "float" else None
        elif isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Div):
            what = "true division /"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            what = "math. use" if node.value.id == "math" else None
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                top = module.split(".")[0]
                if top in FORBIDDEN_IMPORTS:
                    found.append(f"{name}:{node.lineno}: import of {top}")
        if what is not None:
            found.append(f"{name}:{getattr(node, 'lineno', 0)}: {what}")
    return found


def test_the_core_is_found() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in core_modules()}
    assert {"numeric.py", "encoding.py", "identity.py", "prng.py", "errors.py"} <= names
    assert "cli.py" not in names and not any(n.startswith("commands/") for n in names)


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_core_module_is_pure_and_float_free(path: Path) -> None:
    rel = path.relative_to(PACKAGE).as_posix()
    assert violations(path.read_text(encoding="utf-8"), rel) == []


@pytest.mark.parametrize(
    ("snippet", "finding"),
    [
        ("x = 0.5", "float literal"),
        ("x = 1e3", "float literal"),
        ("x = 2j", "float literal"),
        ("x = float('1')", "float( call"),
        ("x = a / b", "true division"),
        ("x /= 2", "true division"),
        ("x = math.floor(y)", "math. use"),
        ("import math", "import of math"),
        ("from math import floor", "import of math"),
        ("import os.path", "import of os"),
        ("from time import monotonic", "import of time"),
        ("import json", "import of json"),
        ("import yaml", "import of yaml"),
        ("import random as r", "import of random"),
        ("def f():\n    import subprocess", "import of subprocess"),
    ],
)
def test_a_planted_violation_is_found(snippet: str, finding: str) -> None:
    found = violations(snippet)
    assert len(found) == 1 and finding in found[0]


def test_clean_integer_code_passes() -> None:
    assert violations("import re\nx = a // b\nx //= 2\ny = divmod(a, 10**6)\n") == []
