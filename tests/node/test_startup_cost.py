"""What the hook's start-up shortcuts rely on, checked against the reference.

Spec: docs/SPEC.md §2 and §5.5 (rules 6-7 of dispatch/genvm_policy/encoding.lua
and rule 4 of catalog.lua rest on them); docs/HOOK.md §3 steps 3-7 and
docs/IMPLEMENTATION.md §5 (start-up cost). Each shortcut of the Lua start-up
path is tested for the property that makes it exact:

1. a byte range `encoding.decode` reports for a top-level value is that
   value's canonical encoding (so the hook hashes it instead of re-encoding);
2. `encoding.key_less` is the order of the encoded keys (so maps are sorted
   and checked without building the encoded keys);
3. `catalog.from_value` reports the first wrong route item at the path the
   reference reader names (the fast path builds no paths);
4. the hook, loading a 1,000-route compiled policy with the host hash, still
   refuses a catalog fact edited outside the GenVM view, and accepts the file
   as compiled.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.drivers import driver
from support.luasandbox import new_state

from genvm_policy.authoring.builtin import builtin
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core import encoding
from genvm_policy.core.catalog import Catalog, catalog_from_value, catalog_value
from genvm_policy.core.errors import PolicyError
from genvm_policy.node.compile import PREFIX, SUFFIX, compile_policy, lua_string

pytestmark = pytest.mark.runtimes("lupa")

_STATES: dict[str, Any] = {}

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=30).filter(
    lambda s: unicodedata.normalize("NFC", s) == s
)
scalars = st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1), texts, st.booleans(), st.none(), st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=16,
)


def state(runtime: str) -> Any:
    """One sandboxed state per runtime; the modules under test keep no state."""
    if runtime not in _STATES:
        _STATES[runtime] = new_state(runtime)
    return _STATES[runtime]


def spans_of(lua: Any, data: bytes) -> dict[str, tuple[int, int]]:
    got = lua.execute(driver("decode_spans").decode(), data)
    return {k: (int(v.split(":")[0]), int(v.split(":")[1])) for k, v in got.items()}


@given(value=st.dictionaries(texts, values, max_size=6))
def test_decode_spans_are_each_values_canonical_bytes(runtime: str, value: Any) -> None:
    data = encoding.encode(value)
    spans = spans_of(state(runtime), data)
    assert sorted(spans) == sorted(value)
    for key, (first, last) in spans.items():
        assert data[first - 1 : last] == encoding.encode(value[key])


@given(keys=st.lists(texts, min_size=2, max_size=8, unique=True))
def test_key_less_is_the_encoded_key_order(runtime: str, keys: list[str]) -> None:
    lua = state(runtime)
    key_less = lua.eval('require("genvm_policy.encoding").key_less')
    want = sorted(keys, key=encoding.encode)
    for a in keys:
        for b in keys:
            assert key_less(a, b) == (want.index(a) < want.index(b))


def small_catalog() -> Catalog:
    config = {
        "backends": {
            "alpha": {
                "provider": "openai-compatible",
                "key": "k",
                "meta": {"priority": 2},
                "models": {"m-1": {"supports_json": True}, "m-2": {"supports_image": True}},
            },
            "beta": {
                "provider": "anthropic",
                "key": "k",
                "models": {"m-1": {"meta": {"greybox": {"text": 1}}}},
            },
        }
    }
    overlay = {
        "version": 1,
        "tiers": ["basic", "premium"],
        "default_tier": "basic",
        "fields": {"quality": {"scale": 0, "min": 0, "max": 100}},
        "models": {"m-1": {"price_in": "0.15", "tier": "premium", "fields": {"quality": 70}}},
    }
    return build_catalog(config, overlay)


WRONG = {"text": 7, "bool": "yes", "int?": "1", "text?": 3, "ints": [1]}


def lua_catalog_error(lua: Any, value: Any) -> tuple[str, list[Any]]:
    got = lua.execute(driver("catalog_error").decode(), encoding.encode(value))
    return got[0], [got[1][i] for i in range(1, len(got[1]) + 1)]


def reference_path(value: Any) -> list[Any]:
    with pytest.raises(PolicyError) as info:
        catalog_from_value(value)
    return list(info.value.path)


def test_route_errors_name_the_first_wrong_item(runtime: str) -> None:
    from genvm_policy.core.catalog import ROUTE_KINDS

    lua = state(runtime)
    good = catalog_value(small_catalog())
    assert lua_catalog_error(lua, good) == ("ok", [])
    assert isinstance(good, dict) and isinstance(good["routes"], list)
    rows: list[Any] = good["routes"]
    for n in range(len(rows)):
        for key, kind in ROUTE_KINDS.items():
            routes = [dict(r) for r in rows]
            routes[n][key] = WRONG[kind]
            bad = {**good, "routes": routes}
            assert lua_catalog_error(lua, bad) == ("CAT_TYPE", reference_path(bad))
            del routes[n][key]
            assert lua_catalog_error(lua, bad) == ("CAT_TYPE", reference_path(bad))
        routes = [dict(r) for r in rows]
        routes[n]["zzz"] = 1
        bad = {**good, "routes": routes}
        assert lua_catalog_error(lua, bad) == ("CAT_TYPE", reference_path(bad))


# -- the hook at 1,000 routes ------------------------------------------------------


def big_catalog() -> Catalog:
    backends = {
        f"backend-{b:02d}": {
            "provider": "openai-compatible",
            "key": "k",
            "meta": {"priority": b % 5 - 2},
            "models": {
                f"vendor/model-{m:03d}": {
                    "supports_json": m % 3 != 0,
                    "supports_image": m % 4 == 0,
                    "meta": {"greybox": {"text": b * 50 + m}},
                }
                for m in range(50)
            },
        }
        for b in range(20)
    }
    overlay = {
        "version": 1,
        "tiers": ["basic", "premium"],
        "default_tier": "basic",
        "models": {f"vendor/model-{m:03d}": {"price_in": f"0.{m:02d}"} for m in range(50)},
    }
    return build_catalog({"backends": backends}, overlay)


def load_hook(runtime: str, catalog: Catalog, policy_file: Path, host_hash: bool) -> Any:
    """`hook.load` in a binary state (raw bytes reach the host hash) offering `catalog`."""
    lua = new_state(runtime, binary=True)
    providers: dict[str, Any] = {}
    for r in catalog.routes:
        backend = providers.setdefault(r.provider, {"models": {}, "meta": {"priority": r.priority}})
        backend["models"][r.model] = {
            "supports_json": r.json,
            "supports_image": r.image,
            "use_max_completion_tokens": r.max_completion_tokens,
            "meta": {"greybox": {"text": r.greybox_text}},
        }
    lua.globals().__llm = to_lua(lua, {"providers": providers})
    dflt = lua.table()
    if host_hash:
        # A Lua function, as GenVM's is: the hook accepts nothing else as a host hash.
        dflt[b"sha2_256"] = lua.execute(
            b"local f = ...; return function(s) return f(s) end",
            lambda s: hashlib.sha256(s).digest(),
        )
    lua.globals().__dflt = dflt
    salt = policy_file.parent / "salt"
    salt.write_bytes(bytes(range(32)))
    vm = lua.execute(
        b"return require('genvm_policy.hook').load(...)",
        to_lua(lua, {"policy": str(policy_file), "salt": str(salt)}),
    )
    return vm[b"mode"].decode(), vm[b"fault"] and vm[b"fault"].decode(), len(vm[b"drift"])


def to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        t = lua.table()
        for k, v in value.items():
            t[k.encode()] = to_lua(lua, v)
        return t
    return value.encode() if isinstance(value, str) else value


@pytest.mark.parametrize("host_hash", [True, False])
def test_big_compiled_policy_loads_and_an_edited_fact_is_refused(
    tmp_path: Path, runtime: str, host_hash: bool
) -> None:
    catalog = big_catalog()
    assert len(catalog.routes) == 1000
    compiled = compile_policy(catalog, builtin("stock-greybox"))
    good = tmp_path / "policy.lua"
    good.write_bytes(compiled)
    assert load_hook(runtime, catalog, good, host_hash) == ("policy", None, 0)
    # A fact GenVM does not show (a price), changed with the identities kept.
    body = compiled[len(PREFIX % 1) : -len(SUFFIX)]
    value: Any = encoding.decode(re.sub(rb"\\(\d{3})", lambda m: bytes([int(m[1])]), body))
    value["catalog"]["routes"][500]["price_in"] += 1
    edited = tmp_path / "edited.lua"
    edited.write_bytes(PREFIX % 1 + lua_string(encoding.encode(value)) + SUFFIX)
    # Without a host hash a large catalog's overlay facts are trusted (HOOK.md §3).
    assert load_hook(runtime, catalog, edited, host_hash) == (
        ("stock", "policy_identity", 0) if host_hash else ("policy", None, 0)
    )
