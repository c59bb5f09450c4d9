"""The layers keep their imports, and the core stays pure and float-free (DESIGN 1, 2; SPEC §1.1).

Walks every module of `genvm_policy/` with `ast`. Each folder is a layer with
an allow-list: the package layers below it it may import, and the outside
modules it may import. The core imports only the core and the standard
modules named in `CORE_STANDARD`, so it reads no file, clock or host. Every
layer but `analysis` (display only, SPEC §12) is also float-free: no float
literal, `float(` call, true division (`/`, `/=`) or `math.` use.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# Standard modules that do no I/O and read no host state.
CORE_STANDARD = frozenset({
    "__future__", "collections", "dataclasses", "functools", "hashlib", "heapq", "hmac",
    "itertools", "operator", "re", "typing", "unicodedata",
})  # fmt: skip  # a table laid out by hand in rows

# Layers bottom up: each may import itself, the layers listed, and the outside
# modules listed (beside CORE_STANDARD). `resources` is the data locator at the
# package top; `genvm_policy` alone is the package's own `__version__`. One entry per
# layer, laid out by hand (the formatter would split every set one name per line):
# fmt: off
LAYERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "core": (frozenset(), frozenset()),
    "authoring": (frozenset({"core"}), frozenset({"pydantic", "pydantic_core"})),
    "loaders": (
        frozenset({"core", "authoring"}),
        frozenset({"datetime", "json", "os", "pathlib", "tomllib", "yaml"}),
    ),
    "vectors": (
        frozenset({"core", "authoring", "loaders", "resources"}),
        frozenset({"struct"}),
    ),
    "node": (
        frozenset({"core", "authoring", "loaders", "vectors", "resources"}),
        frozenset({"importlib", "pathlib", "shutil", "struct", "subprocess", "tempfile"}),
    ),
    "operator": (
        frozenset({"core", "authoring", "loaders", "vectors", "node", "resources"}),
        frozenset({
            "contextlib", "errno", "fcntl", "ipaddress", "json", "os", "pathlib", "sys", "time",
            "urllib", "yaml",
        }),
    ),
    "analysis": (frozenset({"core", "authoring"}), frozenset({"fractions", "html", "math"})),
    "cli": (
        frozenset({
            "core", "authoring", "loaders", "vectors", "node", "operator", "analysis",
            "resources", "genvm_policy",
        }),
        frozenset({
            "argparse", "fractions", "json", "os", "pathlib", "platform", "pwd", "secrets",
            "shutil", "stat", "sys", "textwrap", "time", "urllib",
        }),
    ),
}
# fmt: on
# The package's top-level modules besides the layers: the data locator.
TOP = {
    "__init__.py": frozenset({"importlib", "authoring", "core"}),
    "resources.py": frozenset({"pathlib"}),
}
# The pure layers are float-free; the shells divide paths with `/` and
# `analysis` computes for display only (SPEC §12).
FLOAT_FREE = {"core", "authoring"}

PACKAGE = Path(__file__).resolve().parent.parent / "genvm_policy"


def layer_of(path: Path) -> str:
    """The layer (top folder) of a package module, or its file name at the top."""
    rel = path.relative_to(PACKAGE).parts
    return rel[0]


def modules() -> list[Path]:
    """Every `.py` file of the package."""
    return sorted(PACKAGE.rglob("*.py"))


def imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute import of a module: (line, dotted name)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." if node.level else node.module or ""))
    return found


def layer_violations(source: str, layer: str, name: str = "<snippet>") -> list[str]:
    """Imports of one module of `layer` outside its allow-list, as `name:line: what`."""
    if layer in LAYERS:
        below, outside = LAYERS[layer]
        inside = below | {layer}
    else:
        inside, outside = TOP[layer], TOP[layer]
    found = []
    for line, module in imports(ast.parse(source)):
        parts = module.split(".")
        if module == ".":
            found.append(f"{name}:{line}: relative import (spell the layer)")
        elif parts[0] == "genvm_policy":
            target = parts[1] if len(parts) > 1 else "genvm_policy"
            if target not in inside:
                found.append(f"{name}:{line}: import of genvm_policy.{target} from {layer}")
        elif parts[0] not in CORE_STANDARD | outside:
            found.append(f"{name}:{line}: import of {parts[0]} from {layer}")
    return found


def violations(source: str, name: str = "<snippet>") -> list[str]:
    """The float findings of one module's source, as `name:line: what`."""
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
        if what is not None:
            found.append(f"{name}:{getattr(node, 'lineno', 0)}: {what}")
    return found


def test_every_module_is_in_a_layer() -> None:
    for path in modules():
        assert layer_of(path) in LAYERS or layer_of(path) in TOP, path


def test_the_core_is_found() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in modules() if layer_of(p) == "core"}
    assert {"core/numeric.py", "core/encoding.py", "core/identity.py", "core/prng.py"} <= names
    assert not any(n.startswith("cli/") for n in names)


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_module_keeps_its_layer(path: Path) -> None:
    rel = path.relative_to(PACKAGE).as_posix()
    source = path.read_text(encoding="utf-8")
    assert layer_violations(source, layer_of(path), rel) == []
    if layer_of(path) in FLOAT_FREE:
        assert violations(source, rel) == []


@pytest.mark.parametrize(
    ("snippet", "layer", "finding"),
    [
        ("import os.path", "core", "import of os"),
        ("from time import monotonic", "core", "import of time"),
        ("import json", "core", "import of json"),
        ("import yaml", "core", "import of yaml"),
        ("import random as r", "core", "import of random"),
        ("import math", "core", "import of math"),
        ("def f():\n    import subprocess", "core", "import of subprocess"),
        ("import pydantic", "core", "import of pydantic"),
        ("from genvm_policy.authoring.overlay import Overlay", "core", "genvm_policy.authoring"),
        ("from genvm_policy.node import compile", "vectors", "genvm_policy.node"),
        ("from genvm_policy.cli import main", "operator", "genvm_policy.cli"),
        ("from . import numeric", "core", "relative import"),
        ("import yaml", "authoring", "import of yaml"),
    ],
)
def test_a_planted_import_is_found(snippet: str, layer: str, finding: str) -> None:
    found = layer_violations(snippet, layer)
    assert len(found) == 1 and finding in found[0]


def test_allowed_imports_pass() -> None:
    assert layer_violations("import re\nfrom genvm_policy.core.numeric import MAX\n", "core") == []
    assert layer_violations("import yaml\nfrom genvm_policy.core import numeric\n", "loaders") == []


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
    ],
)
def test_a_planted_violation_is_found(snippet: str, finding: str) -> None:
    found = violations(snippet)
    assert len(found) == 1 and finding in found[0]


def test_clean_integer_code_passes() -> None:
    assert violations("import re\nx = a // b\nx //= 2\ny = divmod(a, 10**6)\n") == []


def test_the_public_surface_resolves() -> None:
    import genvm_policy

    for name in genvm_policy.__all__:
        assert getattr(genvm_policy, name) is not None, name
    with pytest.raises(AttributeError):
        _ = genvm_policy.no_such_name  # the package's __getattr__ refuses it
