"""The Lua policy engine (`dispatch/genvm_policy/`) against the Python reference.

Spec: docs/SPEC.md §5-§10 and "Lua runtime notes". Every property decides in
Python and in a sandboxed `lupa` Lua 5.3 or 5.4 state and compares canonical
CBOR bytes: the decision report (record, every planned attempt's parameters,
rejections with reasons, scores), cascades over scripted outcomes, and the
(code, path) of every error, including malformed compiled terms.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.drivers import driver
from support.engine import (
    blob,
    cases,
    failures,
    py_cascade,
    py_report,
    requests,
    rows,
    seeds,
)
from support.luasandbox import ROOT, new_state
from support.policies import catalog

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import builtin
from genvm_policy.core.catalog import Catalog, catalog_value
from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.errors import CODES, PolicyError
from genvm_policy.core.policy import Policy, policy_identity
from genvm_policy.core.request import Request
from genvm_policy.loaders.sources import load_document

pytestmark = pytest.mark.runtimes("lupa")

EXAMPLES = sorted((ROOT / "examples" / "policies").iterdir())
MANY = settings(max_examples=max(300, settings().max_examples))


@pytest.fixture(scope="module")
def lua(runtime: str) -> Iterator[Any]:
    state = new_state(runtime, binary=True)
    yield state.execute(driver("engine"))
    assert state.eval(b"next(_G, nil) ~= nil") and state.eval(
        b"(function() for k in pairs(_G) do if k == 'D' or k == 'encoding' then "
        b"return false end end return true end)()"
    ), "the Lua modules leaked a global"


# -- decisions ---------------------------------------------------------------
@MANY
@given(cases())
def test_generated_decisions_agree(lua: Any, case: tuple[Catalog, Policy, Request, bytes]) -> None:
    cat, policy, req, seed = case
    want = py_report(cat, policy, req, seed)
    assert lua.report(blob(cat, policy, req, seed)) == want
    got: Any = decode(want)
    # Only a `weighted` sum over the catalog's routes is left to bind (SPEC §8).
    assert "error" not in got or (
        got["error"][0] == "POL_BOUND" and got["error"][1][0] == "select"
    ), got


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@MANY
@given(rows, requests, seeds)
def test_example_policies_agree(lua: Any, path: Path, rs: Any, req: Request, seed: bytes) -> None:
    cat = catalog(rs)
    try:
        policy = admit(load_document(path, what="policy"), cat)
    except PolicyError as err:
        assert err.code in ("POL_ROUTE", "POL_FIELD", "POL_TIER"), err  # names this catalog lacks
        return
    assert lua.report(blob(cat, policy, req, seed)) == py_report(cat, policy, req, seed)


@MANY
@given(rows, requests, seeds)
def test_stock_greybox_agrees(lua: Any, rs: Any, req: Request, seed: bytes) -> None:
    cat = catalog(rs)
    policy = builtin("stock-greybox")
    assert lua.report(blob(cat, policy, req, seed)) == py_report(cat, policy, req, seed)


def test_builtin_is_the_reference_value(lua: Any) -> None:
    policy = builtin("stock-greybox")
    got = decode(lua.builtin(b"stock-greybox"))
    assert got == [encode(policy.value), policy_identity(policy)]
    assert decode(lua.builtin(b"nope")) == {"error": ["POL_VALUE", []]}


# -- cascades ----------------------------------------------------------------


@MANY
@given(cases(), failures)
def test_cascades_agree(
    lua: Any, case: tuple[Catalog, Policy, Request, bytes], outcomes: list[list[Any]]
) -> None:
    cat, policy, req, seed = case
    want = py_cascade(cat, policy, req, seed, outcomes)
    assert lua.cascade(blob(cat, policy, req, seed, outcomes=outcomes)) == want


# -- failing closed ----------------------------------------------------------
VALID = builtin("stock-greybox").value


def _nested(depth: int) -> list[Any]:
    term: list[Any] = ["json"]
    for _ in range(depth):
        term = ["not", term]
    return term


DEEP = _nested(16)  # 17 terms deep: one past the limit


def _with(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


@pytest.mark.parametrize(
    ("value", "code", "path"),
    [
        ("not a map", "POL_TYPE", []),
        (_with(extra=1), "POL_KEY", ["extra"]),
        ({k: v for k, v in VALID.items() if k != "score"}, "POL_KEY", ["score"]),
        (_with(version=1), "POL_VALUE", ["version"]),
        (_with(version=3), "POL_VALUE", ["version"]),
        (_with(filter="needs"), "POL_TYPE", ["filter"]),
        (_with(filter=["nope"]), "POL_OP", ["filter", 0]),
        (_with(filter=["request", "ne", "images", 1]), "POL_VALUE", ["filter", 1]),
        (_with(filter=["request", "le", "temperature", 1]), "POL_VALUE", ["filter", 2]),
        (_with(filter=["fits_context", 4]), "POL_ARITY", ["filter"]),
        (_with(filter=["const", 1]), "POL_SORT", ["filter"]),
        (_with(filter=["not"]), "POL_ARITY", ["filter"]),
        (_with(filter=["all", ["json"], ["provider_in", [1]]]), "POL_TYPE", ["filter", 2, 1, 0]),
        (_with(filter=["lt", "price_in", [1, 2]]), "POL_TYPE", ["filter", 2]),
        (_with(score=["scale", 1, 2]), "POL_ARITY", ["score"]),
        (_with(select=["tiers", [[["json"], ["next"]]]]), "POL_SORT", ["select", 1, 0, 1]),
        (_with(mutate=[["set", "top_k", 1]]), "POL_VALUE", ["mutate", 0, 1]),
        (_with(mutate=[["text_filters", ["NFD"]]]), "POL_VALUE", ["mutate", 0, 1, 0]),
        (
            _with(on_failure={**VALID["on_failure"], "auth": ["retry", 1, 0]}),
            "POL_ARITY",
            ["on_failure", "auth"],
        ),
        (
            _with(on_failure={c: a for c, a in VALID["on_failure"].items() if c != "unknown"}),
            "POL_KEY",
            ["on_failure", "unknown"],
        ),
        (_with(max_attempts=17), "POL_LIMIT", ["max_attempts"]),
        (_with(filter=DEEP), "POL_LIMIT", ["filter", *[1] * 16]),
    ],
)
def test_malformed_policy_values_fail_closed(
    lua: Any, value: Any, code: str, path: list[Any]
) -> None:
    assert decode(lua.policy(encode(value))) == {"error": [code, path]}


@given(st.data())
def test_any_corruption_is_a_registered_error(lua: Any, data: st.DataObject) -> None:
    value: Any = decode(encode(VALID))
    junk = (
        st.none()
        | st.booleans()
        | st.integers(-3, 20)
        | st.sampled_from(["", "json", "next", "greybox", "abort", "retry"])
        | st.lists(st.sampled_from(["json", "not", "all", "set", "retry", 1, "x"]), max_size=4)
    )
    slot = data.draw(st.sampled_from(sorted(value)))
    target: Any = value
    key: Any = slot
    while isinstance(target[key], list | dict) and target[key] and data.draw(st.booleans()):
        target = target[key]
        key = data.draw(
            st.sampled_from(sorted(target) if isinstance(target, dict) else range(len(target)))
        )
    target[key] = data.draw(junk)
    got: Any = decode(lua.policy(encode(value)))
    assert isinstance(got, str) or got["error"][0] in CODES


def test_malformed_catalog_values_fail_closed(lua: Any) -> None:
    good = catalog_value(catalog())
    assert decode(lua.catalog(encode(good))) == len(catalog().routes)
    assert isinstance(good, dict) and isinstance(good["routes"], list)
    routes: list[Any] = list(good["routes"])
    swapped = {**good, "routes": [routes[1], routes[0], *routes[2:]]}
    assert decode(lua.catalog(encode(swapped))) == {"error": ["CAT_TYPE", ["routes", 1]]}
    bad = {**routes[0], "json": 1}
    broken = {**good, "routes": [bad, *routes[1:]]}
    assert decode(lua.catalog(encode(broken))) == {"error": ["CAT_TYPE", ["routes", 0, "json"]]}
    assert decode(lua.catalog(encode({**good, "x": 1}))) == {"error": ["CAT_TYPE", []]}


def test_lua_registers_every_code_it_shares_with_python(lua: Any) -> None:
    codes = decode(lua.codes())
    assert isinstance(codes, list)
    lua_codes = set(codes)
    assert lua_codes <= set(CODES)
    for code in (
        "REQ_FIELD",
        "POL_TYPE",
        "POL_KEY",
        "POL_OP",
        "POL_SORT",
        "POL_ARITY",
        "POL_VALUE",
        "POL_FIELD",
        "POL_TIER",
        "POL_LIMIT",
        "POL_BOUND",
        "NUM_RANGE",
        "CAT_TYPE",
    ):
        assert code in lua_codes
