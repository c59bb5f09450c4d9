"""The layers keep their imports, and the core stays pure and float-free (DESIGN 1, 2; SPEC §1.1).

Walks every module of `genvm_policy/` with `ast`. Each folder is a layer with
an allow-list: the package layers below it it may import, and the outside
modules it may import. The core imports only the core and the standard
modules named in `CORE_STANDARD`, so it reads no file, clock or host.

Every layer that computes or carries a selection value (core, authoring,
loaders, vectors, node, and the package's top modules) is also float-free: no
float literal, `float(` call, `math.` use, and no true division (`/`, `/=`)
unless one operand is a path. A path is known from the module's own types, not
from a list of files: a `Path(...)` call, a name every binding of which is a
path (annotated `Path`, assigned a path, or imported as one from another package
module), a call of a function annotated `-> Path`, a path's `.parent` or
`.resolve()`-like method, `Path.cwd()`-like constructor, a join of paths, or a
choice between paths.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
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
# The layers that hold no float. The others do, for their own reasons: `operator`
# and `cli` count wall-clock seconds (lock waits, reload settling, `--wait`) and
# `analysis` computes for display only (SPEC §12). None computes a selection value.
FLOAT_FREE = {"core", "authoring", "loaders", "vectors", "node", "__init__.py", "resources.py"}

PATH_TYPES = frozenset({"Path", "PurePath", "PurePosixPath"})
# The methods and properties of a path that give a path.
PATH_METHODS = frozenset({
    "absolute", "expanduser", "joinpath", "relative_to", "resolve", "with_name", "with_suffix",
})  # fmt: skip  # a table laid out by hand in rows
PATH_PROPERTIES = frozenset({"parent"})
PATH_CONSTRUCTORS = frozenset({"cwd", "home"})

PACKAGE = Path(__file__).resolve().parents[2] / "genvm_policy"


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


def module_name(path: Path) -> str:
    """The dotted name of a package module (`genvm_policy.node.runtimes`)."""
    parts = ("genvm_policy", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _names_a_path(annotation: ast.expr | None) -> bool:
    """An annotation that names a path type (`Path`, `Path | None`, `pathlib.Path`)."""
    return annotation is not None and any(
        (isinstance(n, ast.Name) and n.id in PATH_TYPES)
        or (isinstance(n, ast.Attribute) and n.attr in PATH_TYPES)
        for n in ast.walk(annotation)
    )


def _targets(target: ast.expr, value: ast.expr | None) -> Iterator[tuple[str, object]]:
    """The (name, binding) pairs of one assignment target; a binding is a value or `False`."""
    if isinstance(target, ast.Name):
        yield target.id, value if value is not None else False
    elif isinstance(target, ast.Tuple | ast.List):
        values = value.elts if isinstance(value, ast.Tuple | ast.List) else None
        for k, item in enumerate(target.elts):
            yield from _targets(
                item, values[k] if values and len(values) == len(target.elts) else None
            )


def bindings(tree: ast.AST) -> tuple[dict[str, list[object]], set[str]]:
    """Each name's bindings in a module, and the functions it declares `-> Path`.

    A binding is an expression (an assigned value), `True` (annotated a path), `False`
    (another annotation, a loop or `with` target) or `(module, name)` (an import from
    the package). Scopes are merged: a name is a path only where all its bindings are.
    """
    found: dict[str, list[object]] = {}
    returns: set[str] = set()
    for node in ast.walk(tree):
        pairs: list[tuple[str, object]] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _names_a_path(node.returns):
                returns.add(node.name)
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                if arg is not None:
                    pairs.append((arg.arg, _names_a_path(arg.annotation)))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            pairs.append((node.target.id, _names_a_path(node.annotation)))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                pairs += _targets(target, node.value)
        elif isinstance(node, ast.NamedExpr):
            pairs.append((node.target.id, node.value))
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            pairs += _targets(node.target, None)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            pairs += _targets(node.optional_vars, None)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genvm_policy"):
            pairs += [(a.asname or a.name, (node.module, a.name)) for a in node.names]
        for name, how in pairs:
            found.setdefault(name, []).append(how)
    return found, returns


class PathTypes:
    """Which names and functions of each package module are paths (see the docstring).

    Solved together for every module: a name imported from another module is a path
    when it is one there. Starting from no path names, a name becomes one once all of
    its bindings are paths, until nothing changes."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.bound = {m: bindings(ast.parse(s)) for m, s in sources.items()}
        self.paths: dict[str, set[str]] = {m: set() for m in sources}
        changed = True
        while changed:
            changed = False
            for module, (names, _) in self.bound.items():
                for name, hows in names.items():
                    if name not in self.paths[module] and all(
                        self._binds_path(module, how) for how in hows
                    ):
                        self.paths[module].add(name)
                        changed = True

    def _binds_path(self, module: str, how: object) -> bool:
        if isinstance(how, tuple):
            source, name = how
            return name in self.paths.get(source, ()) or self._returns(source, name)
        return how is True or (isinstance(how, ast.expr) and self.is_path(module, how))

    def _returns(self, module: str, name: str, seen: frozenset[str] = frozenset()) -> bool:
        """Whether `name` in `module` is, or is imported as, a function returning a path."""
        if module not in self.bound or module in seen:
            return False
        names, returns = self.bound[module]
        if name in returns:
            return True
        imported = [h for h in names.get(name, ()) if isinstance(h, tuple)]
        return any(self._returns(m, n, seen | {module}) for m, n in imported)

    def is_path(self, module: str, node: ast.expr) -> bool:
        """Whether the expression `node` of `module` is a path."""
        if isinstance(node, ast.Name):
            return node.id in self.paths[module]
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                return f.id in PATH_TYPES or self._returns(module, f.id)
            if isinstance(f, ast.Attribute):
                # `pathlib.Path(...)`, `Path.cwd()`, or a path's own method
                on_type = isinstance(f.value, ast.Name) and f.value.id in PATH_TYPES
                on_type = on_type and f.attr in PATH_CONSTRUCTORS
                return (
                    f.attr in PATH_TYPES
                    or on_type
                    or (f.attr in PATH_METHODS and self.is_path(module, f.value))
                )
            return False
        if isinstance(node, ast.Attribute):
            return node.attr in PATH_PROPERTIES and self.is_path(module, node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self.is_path(module, node.left) or self.is_path(module, node.right)
        if isinstance(node, ast.IfExp):
            return self.is_path(module, node.body) and self.is_path(module, node.orelse)
        if isinstance(node, ast.BoolOp):
            return all(self.is_path(module, v) for v in node.values)
        return False


def package_sources() -> dict[str, str]:
    """Every package module's source by dotted name."""
    return {module_name(p): p.read_text(encoding="utf-8") for p in modules()}


def violations(
    source: str, name: str = "<snippet>", types: PathTypes | None = None, module: str = ""
) -> list[str]:
    """The float findings of one module's source, as `name:line: what`.

    `types` knows the package's paths; without it, the snippet is its own module."""
    if types is None:
        module, types = "<snippet>", PathTypes({"<snippet>": source})
    found = []
    for node in ast.walk(ast.parse(source)):
        what = None
        if isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            what = f"float literal {node.value!r}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            what = "float( call" if node.func.id == "float" else None
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            paths = types.is_path(module, node.left) or types.is_path(module, node.right)
            what = None if paths else "true division / (neither operand is a path)"
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Div):
            paths = types.is_path(module, node.target)
            what = None if paths else "true division /= (the target is not a path)"
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


@pytest.fixture(scope="module")
def path_types() -> PathTypes:
    return PathTypes(package_sources())


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_module_keeps_its_layer(path: Path, path_types: PathTypes) -> None:
    rel = path.relative_to(PACKAGE).as_posix()
    source = path.read_text(encoding="utf-8")
    assert layer_violations(source, layer_of(path), rel) == []
    if layer_of(path) in FLOAT_FREE:
        assert violations(source, rel, path_types, module_name(path)) == []


def test_the_float_lint_covers_every_layer_that_computes() -> None:
    # Only the clock and display layers are left out; a new layer is float-free by default.
    assert set(LAYERS) - FLOAT_FREE == {"operator", "cli", "analysis"}
    assert set(TOP) <= FLOAT_FREE


def test_the_package_joins_paths_it_knows(path_types: PathTypes) -> None:
    # A path from another module, a function returning one, a parameter annotated one:
    # the rule sees each from the types the code already states.
    assert "DISPATCH" in path_types.paths["genvm_policy.node.runtimes"]
    assert "DISPATCH" in path_types.paths["genvm_policy.node.installgrid"]
    assert "_PACKAGED" in path_types.paths["genvm_policy.resources"]


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
        ("def f(p: str) -> str:\n    return p / 'x'", "neither operand is a path"),
        ("def f(p: Path, n: int) -> int:\n    return n / 2", "neither operand is a path"),
        ("p = Path('a')\np = 3\nx = p / 2", "neither operand is a path"),
        ("def f(p: Path | int) -> None:\n    n: int = 1\n    n /= 2", "target is not a path"),
        ("def f() -> str:\n    ...\nx = f() / 'a'", "neither operand is a path"),
        ("x = Path('a').stem / 'b'", "neither operand is a path"),
        ("x = Path.exists(p) / 2", "neither operand is a path"),
        ("x = math.floor(y)", "math. use"),
    ],
)
def test_a_planted_violation_is_found(snippet: str, finding: str) -> None:
    found = violations(snippet)
    assert len(found) == 1 and finding in found[0]


def test_clean_integer_code_passes() -> None:
    assert violations("import re\nx = a // b\nx //= 2\ny = divmod(a, 10**6)\n") == []


@pytest.mark.parametrize(
    "snippet",
    [
        "ROOT = Path(__file__).resolve().parent\nX = ROOT / 'a' / 'b'",
        "def f(p: Path) -> Path:\n    return p / 'x'",
        "def f(p: Path | None) -> None:\n    p /= 'x'",
        "def root() -> Path:\n    ...\nX = root() / 'a'",
        "import pathlib\nX = pathlib.Path('a') / 'b'",
        "X = Path.cwd() / 'a'\nY = X.joinpath('b') / 'c'",
        "def f(tmp: str) -> None:\n    a, b = Path(tmp) / 'x', Path(tmp) / 'y'\n    c = b / 'z'",
        "def f(p: Path, q: Path | None) -> Path:\n    return (q or p) / 'x' if q else p / 'y'",
    ],
)
def test_a_path_join_passes(snippet: str) -> None:
    assert violations(snippet) == []


def test_the_public_surface_resolves() -> None:
    import genvm_policy

    for name in genvm_policy.__all__:
        assert getattr(genvm_policy, name) is not None, name
    with pytest.raises(AttributeError):
        _ = genvm_policy.no_such_name  # the package's __getattr__ refuses it
