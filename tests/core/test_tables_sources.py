"""The generated tables have one source each, and no Lua module keeps a copy of them.

Spec: docs/SPEC.md "Lua runtime notes" (the Lua modules read `tables.lua` and
`hooktables.lua` rather than keep copies). `hooktables.lua` is regenerated from
the node layer and compared byte for byte; the Lua glue is checked to read its
values (in GenVM's sandbox, Lua 5.3 and 5.4); and every generated text that
reads like a sentence, a path or a tag is looked for as a literal in the Lua
runtime's other modules, so a new hand copy fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from support.luasandbox import lua_list

from genvm_policy.core import catalog, prng, request
from genvm_policy.node import compile as compiled
from genvm_policy.node import hookmodel, hooktables, routability
from genvm_policy.node.runtimes import new_state
from genvm_policy.vectors import tables

ROOT = Path(__file__).resolve().parent.parent.parent
LUA = ROOT / "dispatch" / "genvm_policy"
GENERATED = {Path(tables.LUA_PATH).name, Path(hooktables.LUA_PATH).name}


def test_hooktables_lua_is_the_generated_bytes() -> None:
    assert (ROOT / hooktables.LUA_PATH).read_bytes() == hooktables.lua_source().encode("utf-8")


def test_byte_strings_are_written_as_lua_reads_them() -> None:
    lua = new_state("lua53", binary=True)
    text = tables.render("return {\n", (("t", (("B", b'\x00"\\\n9\x7f\xff'),)),))
    assert lua.execute(text.encode())[b"t"][b"B"] == b'\x00"\\\n9\x7f\xff'


@pytest.mark.runtimes("lupa")
def test_lua_modules_read_the_generated_values(runtime: str) -> None:
    lua = new_state(runtime)
    hook = lua.eval('(require("genvm_policy.hook"))')
    assert (hook.RECORD_MESSAGE, hook.FAULT_MESSAGE, hook.UNROUTABLE_MESSAGE) == (
        hookmodel.RECORD_MESSAGE,
        hookmodel.FAULT_MESSAGE,
        hookmodel.UNROUTABLE_MESSAGE,
    )
    assert (hook.FORMAT, hook.SPEC) == (compiled.FORMAT, compiled.SPEC_VERSION)
    parity = lua.eval('(require("genvm_policy.parity"))')
    assert parity.JSON_INSTRUCTION == hookmodel.JSON_INSTRUCTION
    assert lua_list(lua, parity.STOCK_FILTERS) == list(hookmodel.STOCK_FILTERS)
    assert {k: parity.TEMPLATE_KEY[k] for k in hookmodel.TEMPLATE_KEY} == hookmodel.TEMPLATE_KEY
    cat = lua.eval('(require("genvm_policy.catalog"))')
    assert lua_list(lua, cat.VIEW_KEYS) == list(catalog.VIEW_KEYS)
    req = lua.eval('(require("genvm_policy.request"))')
    assert [tuple(lua_list(lua, c)) for c in lua_list(lua, req.CLASSES)] == list(request.CLASSES)
    binary = new_state(runtime, binary=True)
    tag = binary.eval(b'(require("genvm_policy.prng")).CALL_KEY_TAG')
    assert tag == prng.CALL_KEY_TAG
    salt = binary.eval(b'(require("genvm_policy.hook")).PUBLIC_SALT')
    assert salt == hookmodel.PUBLIC_SALT == routability.SEED


# A text that is more than a name: a message, a file name, a tag, a path.
DISTINCT = re.compile(rb".{8,}[ ./:].*|.*[ ./:].{8,}", re.S)


def lua_texts(lua: Any, t: Any) -> list[bytes]:
    """Every text inside a Lua table of a binary state, keys and values."""
    out: list[bytes] = []
    for k, v in t.items():
        for x in (k, v):
            if isinstance(x, bytes):
                out.append(x)
            elif lua.eval(b"type")(x) == b"table":
                out += lua_texts(lua, x)
    return out


def test_no_lua_module_keeps_a_copy_of_a_generated_text() -> None:
    lua = new_state("lua53", binary=True)
    generated: set[bytes] = set()
    for source in (tables, hooktables):
        table = lua.execute(source.lua_source().encode("utf-8"))
        generated |= {t for t in lua_texts(lua, table) if DISTINCT.fullmatch(t)}
    assert b"respond with a valid json object" in generated  # the check sees the texts
    copies = []
    for path in sorted(LUA.glob("*.lua")):
        if path.name in GENERATED:
            continue
        code = "\n".join(line.split("--", 1)[0] for line in path.read_text("utf-8").splitlines())
        for literal in re.findall(r'"((?:[^"\\\n]|\\.)*)"', code):
            if lua.eval(b'"' + literal.encode("utf-8") + b'"') in generated:
                copies.append((path.name, literal))
    assert not copies, copies
