"""Twins by construction: the Lua runtime's modules against the reference's, name for name.

Spec: docs/SPEC.md, "Lua runtime notes" (one module per Python module with the
same public functions in the same order). Every module under
`dispatch/genvm_policy/` either has a Python twin of the same stem in one of the
package's layers, or is listed in `LUA_ONLY` with its reason. For each twin pair
the public functions (Lua `function M.name` / `M.name =` of a lower-case name;
Python's top-level public `def`s) are the same names in the same order, read
through `QUALIFIED` and the short tables of what one side has and the other
lacks, each with its reason, and the section banners (Lua `-- -- title ---`,
Python `# -- title ---`) are the same titles in the same order. A new function
on one side fails here until its twin is written or its reason is given.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "dispatch" / "genvm_policy"
PACKAGE = ROOT / "genvm_policy"

# Lua module stem -> why it has no Python twin.
LUA_ONLY: dict[str, str] = {
    "hook": "GenVM's entry points and host glue (docs/HOOK.md); the reference models "
    "the hook in `node/hookmodel.py`, it does not run in GenVM",
    "parity": "what the node's stock script gives a contract (texts, budget, statistics), "
    "host glue beside `hook`; checked against the suite's stock model",
    "reply": "reads a failed provider reply out of GenVM's error (body code, Retry-After); "
    "the reference receives these already read, as a cascade `Failure`",
    "sha256": "SHA-256 in pure Lua with its unrolled rounds (a speed-up with its figures); "
    "the reference takes it from `hashlib`",
    "hooktables": "generated from the node layer's tables by `genvm-policy vectors tables`; "
    "its Python side is those tables (`node/hooktables.py` names them)",
    "tabulate": "the Lua runtime's speed-ups (tables made once per bound policy) behind "
    "spec-shaped calls, with its figures; the reference evaluates each call",
    "tables": "generated from the reference's tables by `genvm-policy vectors tables`; "
    "its Python side is the tables themselves",
    "values": "the tagged value model Lua needs (null, arrays apart from maps, bytes); "
    "Python's own types are the model, and `encoding` re-exports these names",
}

# A Python function may carry its module's stem (`make_request`, `catalog_from_value`)
# because the reference imports names bare; Lua always calls through the module
# (`request.make`). Only these two spellings count as the same name.
QUALIFIED = ("{stem}_{name}", "{name}_{stem}")

# (stem, Lua function) -> why the reference has no function of that name.
LUA_EXTRA: dict[tuple[str, str], str] = {
    ("cascade", "success"): "builds what Python's `Success` dataclass is",
    ("cascade", "failure"): "builds what Python's `Failure` dataclass is",
    ("catalog", "route"): "looks a route up by name; Python reads `Catalog.routes` directly",
    ("catalog", "view_index"): "the hook's index of GenVM's providers, built once per VM",
    ("catalog", "view_routes"): "the routes of that index; the hook's load check reads them",
    ("decision", "identities"): "the input identities, hashed on first use; fields of `Decision`",
    ("decision", "identity"): "hashed on first use; a field of `Decision`, set by `decide`",
    ("errors", "raise"): "raising is `raise PolicyError(…)` in Python",
    ("errors", "is_error"): "`isinstance(e, PolicyError)` in Python",
    ("errors", "at"): "prefixing a path is `PolicyError.at` in Python",
    ("errors", "render"): "`PolicyError.render` in Python",
    ("errors", "as_value"): "`PolicyError.as_value` in Python",
    ("mutate", "params_value"): "the parameters' map is `Params.value` in Python",
    ("numeric", "from_host"): "normalises GenVM's float statuses (`429.0`); Python has no host",
    ("prng", "stream"): "opens what Python's `Stream` class is",
}

# (stem, Python function) -> why the Lua runtime has no function of that name.
PY_EXTRA: dict[tuple[str, str], str] = {
    ("catalog", "view_identity"): "the hook hashes the view through `identity` directly",
    ("numeric", "parse_decimal"): "decimal text is parsed at admission only (SPEC §1.4)",
    ("numeric", "to_int"): "loaders' numbers are read at admission only (SPEC §1.5)",
    ("numeric", "format_units"): "printing for people; the node prints no decimals",
    ("policy", "normalize"): "normalisation is admission's (SPEC Lua notes 3)",
    ("policy", "check_nfc"): "NFC needs Unicode tables the Lua runtime lacks (SPEC §2.6)",
}


def lua_functions(path: Path) -> list[str]:
    """The public functions of a Lua module, in the order they are defined."""
    found: list[str] = []
    pattern = r"^(?:function M\.([a-z_][A-Za-z0-9_]*)\s*\(|M\.([a-z_][A-Za-z0-9_]*)\s*=)"
    for m in re.finditer(pattern, path.read_text(encoding="utf-8"), re.M):
        name = m[1] or m[2]
        if name not in found:
            found.append(name)
    return found


def python_functions(path: Path) -> list[str]:
    """The top-level public functions of a Python module, in source order."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name[0] != "_"]


def banners(path: Path, lead: str) -> list[str]:
    """The titles of a module's section banners (`<lead> -- title ----`), in order."""
    pattern = rf"^{re.escape(lead)} -- (.+?) -{{3,}}$"
    return re.findall(pattern, path.read_text(encoding="utf-8"), re.M)


def twin(stem: str) -> Path | None:
    """The Python module of the same stem: the core's, else the one other layer's."""
    core = PACKAGE / "core" / f"{stem}.py"
    if core.exists():
        return core
    found = sorted(PACKAGE.glob(f"*/{stem}.py"))
    assert len(found) <= 1, f"{stem}: several Python modules of that stem: {found}"
    return found[0] if found else None


STEMS = sorted(p.stem for p in LUA.glob("*.lua"))
TWINS = [s for s in STEMS if s not in LUA_ONLY]


def test_every_lua_module_has_a_twin_or_a_reason() -> None:
    assert set(LUA_ONLY) <= set(STEMS), "LUA_ONLY names a module that is gone"
    assert [s for s in TWINS if twin(s) is None] == []
    for stem, reason in LUA_ONLY.items():
        assert reason, stem


def test_the_exception_tables_name_real_functions() -> None:
    for stem, name in LUA_EXTRA:
        assert stem in TWINS and name in lua_functions(LUA / f"{stem}.lua"), (stem, name)
    for stem, name in PY_EXTRA:
        path = twin(stem)
        assert path is not None and name in python_functions(path), (stem, name)


@pytest.mark.parametrize("stem", TWINS)
def test_twins_have_the_same_functions_in_the_same_order(stem: str) -> None:
    path = twin(stem)
    assert path is not None
    py = python_functions(path)
    lua_side = []
    for name in lua_functions(LUA / f"{stem}.lua"):
        if (stem, name) in LUA_EXTRA:
            continue
        spellings = [name, *(q.format(stem=stem, name=name) for q in QUALIFIED)]
        matched = [s for s in spellings if s in py]
        assert matched, f"{stem}.lua `{name}` has no twin in {path.name} and no reason"
        lua_side.append(matched[0])
    python_side = [n for n in py if (stem, n) not in PY_EXTRA]
    assert lua_side == python_side


@pytest.mark.parametrize("stem", TWINS)
def test_twins_have_the_same_section_banners(stem: str) -> None:
    path = twin(stem)
    assert path is not None
    assert banners(LUA / f"{stem}.lua", "--") == banners(path, "#")
