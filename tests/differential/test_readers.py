"""The `*_from_value` readers agree across runtimes on malformed values (SPEC §0, Lua notes 2).

Spec: docs/SPEC.md §0 (both runtimes produce the same `(code, path)`), §5.5 and
§7.3 (the canonical values), §6 rule 5 (the canonical request reader) and
"Lua runtime notes" 2 (what the readers check). A valid catalog, policy or
request value has one of its parts replaced by something hostile: a value of
another kind, a float, an integer past 2^53, null, a byte string, text not in
NFC, a map with a non-text key, nesting deeper than any limit, a long list.
The Python reader and the Lua reader, in `lupa`'s Lua 5.3 and 5.4, must both
accept it (and then read the same canonical value) or both refuse it with the
same `(code, path)`; neither may fail any other way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.drivers import driver
from support.runtimes import names

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import BUILTINS, builtin
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import MAX_ROUTES, catalog_from_value, catalog_value
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import OPS, policy_from_value, policy_value
from genvm_policy.core.request import request_from_value, request_value
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.runtimes import new_state
from genvm_policy.vectors.run_policy import read_request

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def luas() -> Iterator[list[tuple[Any, Any]]]:
    states = [new_state(version, binary=True) for version in names("lupa")]
    yield [(lua, lua.execute(driver("readers"))) for lua in states]
    for lua in states:
        assert lua.eval(b"rawget(_G, 'D') == nil and rawget(_G, 'encoding') == nil")


def to_lua(lua: Any, d: Any, v: object) -> object:
    """`v` as a host hands it to the Lua runtime: tagged containers, raw strings."""
    if isinstance(v, str):
        return v.encode("utf-8", "surrogatepass")
    if isinstance(v, bytes):
        return d.bytes(v)
    if isinstance(v, list):
        return d.array(lua.table(*(to_lua(lua, d, x) for x in v)))
    if isinstance(v, dict):
        t = lua.table()
        for k, x in v.items():
            t[to_lua(lua, d, k)] = to_lua(lua, d, x)
        return d.map(t)
    return d.null if v is None else v


def from_lua(lua: Any, d: Any, v: Any) -> object:
    """A Lua value back as Python's: text as `str`, tagged containers as lists and dicts."""
    kind = d.kind(v)
    if kind == b"text":
        return v.decode("utf-8", "surrogatepass")
    if kind == b"bytes":
        return bytes(v[1])
    if kind == b"null":
        return None
    if kind == b"array":
        return [from_lua(lua, d, v[i]) for i in range(1, len(v) + 1)]
    if kind == b"map":
        return {from_lua(lua, d, k): from_lua(lua, d, x) for k, x in v.items()}
    return v


def lua_result(lua: Any, d: Any, name: str, v: object) -> tuple[str, object]:
    status, out = d.read(name.encode(), to_lua(lua, d, v))
    if status == b"crash":
        return "crash", out
    return status.decode(), from_lua(lua, d, out)


def py_result(read: Callable[[Any], object], v: object) -> tuple[str, object]:
    try:
        return "ok", read(v)
    except PolicyError as err:
        return "error", {"code": err.code, "path": list(err.path)}
    except Exception as err:  # any other exception is the failure reported
        return "crash", repr(err)


def strict(v: object) -> object:
    """`v` with each scalar's type beside it, so `1 == 1.0 == True` cannot hide a difference."""
    if isinstance(v, dict):
        return sorted(((repr(k), strict(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return [strict(x) for x in v]
    return (type(v).__name__, v)


def agree(luas: list[tuple[Any, Any]], name: str, read: Callable[[Any], object], v: object) -> None:
    want = py_result(read, v)
    assert want[0] != "crash", want
    for lua, d in luas:
        got = lua_result(lua, d, name, v)
        assert strict(got) == strict(want), (lua.eval(b"_VERSION"), got, want)


# -- hostile values --------------------------------------------------------------------

MAX = 2**53 - 1


def nested(depth: int, inner: object, as_list: bool) -> object:
    value = inner
    for _ in range(depth):
        value = [value] if as_list else {"k": value}
    return value


def nested_term(depth: int) -> object:
    """A well-formed predicate `depth` terms deep: past the depth limit from 17 on."""
    term: object = ["true"]
    for _ in range(depth - 1):
        term = ["not", term]
    return term


scalars = st.sampled_from([
    0, 1, 2, -1, MAX, MAX + 1, -MAX - 1, 2**62, 1.0, 2.0, 0.5, -0.0, True, False, None, "", "x",
    "e\u0301", "\u00e9", b"", b"\x00", "not-an-op", "true", "argmax",
])  # fmt: skip  # one pool of hostile scalars, laid out by hand
hostile: st.SearchStrategy[object] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["k", "filter", "op", "", "z"]), inner, max_size=3),
        st.builds(lambda k, x: {k: x}, st.sampled_from([0, 1, -1]), inner),
        st.builds(nested, st.integers(15, 80), inner, st.booleans()),
        st.builds(lambda x, n: [x] * n, inner, st.integers(17, 40)),
        st.builds(lambda n: nested_term(n), st.integers(14, 20)),
        # A term of any op with arguments of any kind: sorts, arities, argument kinds.
        st.builds(
            lambda op, args: [op, *args], st.sampled_from(sorted(OPS)), st.lists(inner, max_size=3)
        ),
    ),
    max_leaves=8,
)


def paths(v: object, here: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    """Every path into `v` (map keys, list positions), the root first."""
    yield here
    if isinstance(v, dict):
        for k in sorted(v, key=str):
            yield from paths(v[k], (*here, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from paths(x, (*here, i))


def replaced(v: object, path: tuple[object, ...], new: object) -> object:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(v, dict):
        return {**v, head: replaced(v[head], rest, new)}
    assert isinstance(v, list) and isinstance(head, int)
    return [*v[:head], replaced(v[head], rest, new), *v[head + 1 :]]


@st.composite
def spoiled(draw: st.DrawFn, values: list[object]) -> object:
    """One of `values` with the part at one path replaced, or a key added or dropped."""
    v = draw(st.sampled_from(values))
    where = draw(st.sampled_from(list(paths(v))))
    # Shallow parts are few among many deep ones: cut the path at a drawn depth.
    where = where[: draw(st.integers(min(1, len(where)), len(where)))]
    how = draw(st.sampled_from(["replace", "replace", "add", "drop"]))
    if how == "replace":
        return replaced(v, where, draw(hostile))
    if how == "add" and where:
        part: Any = v
        for seg in where[:-1]:
            part = part[seg]
        if isinstance(part, dict):
            key = draw(st.sampled_from(["extra", "", "zz", "e\u0301", 7]))
            return replaced(v, where[:-1], {**part, key: draw(hostile)})
    if how == "drop" and where and isinstance(v, dict):
        parent: Any = v
        for seg in where[:-1]:
            parent = parent[seg]
        if isinstance(parent, dict):
            return replaced(v, where[:-1], {k: x for k, x in parent.items() if k != where[-1]})
    return replaced(v, where, draw(hostile))


# -- the valid values spoiled ------------------------------------------------------------

NODE = EXAMPLES / "node" / "genvm-module-llm.yaml"
OVERLAY = EXAMPLES / "node" / "overlay.yaml"
CATALOG = build_catalog(
    load_document(str(NODE), what="node config"),  # type: ignore[arg-type]  # build_catalog checks the shape
    load_document(str(OVERLAY), what="overlay"),  # type: ignore[arg-type]  # build_catalog checks the shape
)
CATALOGS: list[object] = [catalog_value(CATALOG)]
POLICIES: list[object] = [policy_value(builtin(name)) for name in BUILTINS] + [
    policy_value(admit(load_document(str(p), what="policy"), CATALOG))
    for p in sorted((EXAMPLES / "policies").iterdir())
]
REQUESTS: list[object] = [
    {"entry": "prompt", "format": "json", "images": 1, "temperature": 700},
    {"entry": "EqComparative", "role": "leader", "prompt_bytes": 10, "max_tokens": 5},
    {},
]
READERS: dict[str, Callable[[Any], object]] = {
    "catalog": lambda x: catalog_value(catalog_from_value(x)),
    "policy": lambda x: policy_value(policy_from_value(x)),
    "request": lambda x: request_value(read_request(x)),
}
EXAMPLES_PER_READER = settings(max_examples=max(300, settings().max_examples), deadline=None)


def test_the_valid_values_read_alike(luas: list[tuple[Any, Any]]) -> None:
    for v in CATALOGS:
        agree(luas, "catalog", READERS["catalog"], v)
    for v in POLICIES:
        agree(luas, "policy", READERS["policy"], v)
    for v in REQUESTS:
        agree(luas, "request", READERS["request"], v)


def edges() -> list[tuple[str, object]]:
    """Hand-picked malformed values, each once a disagreement or a crash of one reader."""
    cat: Any = CATALOGS[0]
    pol: Any = POLICIES[0]
    route = cat["routes"][0]
    return [
        ("catalog", {**cat, "version": 1.0}),
        ("catalog", {**cat, "tiers": ["basic", 7]}),
        ("catalog", {**cat, "routes": [{**route, "fields": {"b": "x", "a": 1.5, "c": None}}]}),
        ("catalog", {**cat, "routes": [route] * (MAX_ROUTES + 1)}),
        ("catalog", {**cat, 7: 1, "zz": 2}),
        ("policy", {**pol, "version": 2.0}),
        ("policy", {**pol, "filter": nested_term(16)}),
        ("policy", {**pol, "filter": nested_term(17)}),
        ("policy", {**pol, "max_attempts": 3.0}),
        ("policy", {**pol, 0: 0, "a": 1}),
        ("request", {"images": 1.0}),
        ("request", {"entry": b"prompt"}),
        ("request", {7: 1, "zz": 2}),
    ]


@pytest.mark.parametrize(("name", "value"), edges())
def test_the_edges_read_alike(luas: list[tuple[Any, Any]], name: str, value: object) -> None:
    agree(luas, name, READERS[name], value)


@EXAMPLES_PER_READER
@given(spoiled(CATALOGS))
def test_catalog_readers_agree(luas: list[tuple[Any, Any]], v: object) -> None:
    agree(luas, "catalog", READERS["catalog"], v)


@EXAMPLES_PER_READER
@given(spoiled(POLICIES))
def test_policy_readers_agree(luas: list[tuple[Any, Any]], v: object) -> None:
    agree(luas, "policy", READERS["policy"], v)


@EXAMPLES_PER_READER
@given(spoiled(REQUESTS))
def test_request_readers_agree(luas: list[tuple[Any, Any]], v: object) -> None:
    agree(luas, "request", READERS["request"], v)
    # The document reader agrees where the document form is the canonical form
    # (SPEC §6 rule 5): integer counts, and no temperature, which it reads at scale 3.
    if isinstance(v, dict) and "temperature" not in v:
        counts = [v.get(k) for k in ("images", "prompt_bytes", "max_tokens")]
        if all(c is None or type(c) is int for c in counts):
            want = py_result(READERS["request"], v)
            assert strict(py_result(lambda x: request_value(request_from_value(x)), v)) == strict(
                want
            )
