"""Regressions of the engine fixes, in Python and in lupa Lua 5.3 and 5.4.

Spec: docs/SPEC.md §6 (request reader) and §8 rule 6 (`bind` checks the
policy against the catalog). Vector cases: `decision` `unbound_*`, `request`
`odd_entry_empty`, `odd_entry_false`, `odd_images_false`.

1. A policy admitted without its catalog and decided on a catalog that lacks
   a field, a tier or a scale it needs fails in `bind` with the registered
   code at the path of the term in the policy value: no `KeyError`, no
   empty path, the same pair in every runtime, before any route is read.
2. Only an absent (or null) request field takes its default: an empty or
   `false` entry is `REQ_FIELD`, `false` images is `NUM_RANGE` (`NUM_TYPE`
   in the document reader), and the entry is checked before the numbers, by
   the document reader too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from luasandbox import new_state
from test_differential import REQUEST_DRIVER
from test_lua_engine import blob, py_report
from test_policy_support import catalog

from genvm_policy.authoring.admission import admit
from genvm_policy.core.decision import decide
from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.interpreter import bind
from genvm_policy.core.request import Request, make_request, request_from_value
from genvm_policy.vectors.generate_flow import UNBOUND
from genvm_policy.vectors.run_policy import read_request

SEED = bytes(range(32))


@pytest.fixture(scope="module", params=["lua53", "lua54"])
def lua(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield new_state(request.param, binary=True).execute(REQUEST_DRIVER)


# -- 1. bind ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("doc", "code", "path"),
    [
        ({"score": "speed"}, "POL_FIELD", ["score", 1]),
        ({"score": {"sum": [1, {"neg": "speed"}]}}, "POL_FIELD", ["score", 1, 1, 1]),  # `neg` first
        ({"filter": {"has": "speed"}, "score": "latency"}, "POL_FIELD", ["filter", 2, 1]),
        (
            {"select": {"tiers": [{"filter": {"tier_at_least": "gold"}}]}},
            "POL_TIER",
            ["select", 1, 0, 0, 1],
        ),
        (
            {
                "mutate": [
                    {"set": {"max_tokens": 9}},
                    {"when": {"if": {"lt": {"speed": 2}}, "then": ["use_max_completion_tokens"]}},
                ]
            },
            "POL_FIELD",
            ["mutate", 1, 1, 1],
        ),
        ({"filter": {"ge": {"quality": "0.5"}}}, "NUM_INEXACT", ["filter", 2, 2]),
        ({"filter": "false", "score": "speed"}, "POL_FIELD", ["score", 1]),
    ],
)
def test_bind_names_the_term_the_catalog_cannot_serve(
    lua: Any, doc: dict[str, Any], code: str, path: list[Any]
) -> None:
    cat = catalog()
    policy = admit(doc)  # without its catalog: nothing checked the names
    req = make_request()
    with pytest.raises(PolicyError) as err:
        bind(cat, policy)
    assert (err.value.code, list(err.value.path)) == (code, path)
    want = encode({"error": [code, path]})
    assert py_report(cat, policy, req, SEED) == want
    assert lua.report(blob(cat, policy, req, SEED)) == want


def test_every_unbound_vector_fails_alike(lua: Any) -> None:
    cat, req = catalog(), make_request()
    for _, _, doc in UNBOUND:
        policy = admit(doc)
        want = py_report(cat, policy, req, SEED)
        got = decode(want)
        assert isinstance(got, dict) and "error" in got
        assert lua.report(blob(cat, policy, req, SEED)) == want


def test_a_declared_field_binds_and_decides(lua: Any) -> None:
    cat, req = catalog(), make_request()
    policy = admit({"score": "quality", "filter": {"ge": {"quality": "70"}}})
    d = decide(cat, policy, req, SEED)
    assert d.routes and all(
        dict(r.fields)["quality"] >= 70
        for r in cat.routes
        if (r.provider, r.model) in {(p, m) for p, m, _ in d.routes}
    )
    assert lua.report(blob(cat, policy, req, SEED)) == py_report(cat, policy, req, SEED)


# -- 2. requests -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "code", "path"),
    [
        ({"entry": ""}, "REQ_FIELD", ["entry"]),
        ({"entry": False}, "REQ_FIELD", ["entry"]),
        ({"format": False}, "REQ_FIELD", ["format"]),
        ({"images": False}, "NUM_RANGE", ["images"]),
        ({"entry": "", "images": -1}, "REQ_FIELD", ["entry"]),
        ({"entry": "x", "max_tokens": 0}, "REQ_FIELD", ["entry"]),
    ],
)
def test_only_an_absent_request_field_defaults(
    lua: Any, value: dict[str, Any], code: str, path: list[Any]
) -> None:
    want = {"error": [code, path]}
    assert decode(lua.request(encode(value))) == want
    # The document reader names a `false` count `NUM_TYPE` (a file's numbers may be
    # text); on every other case it agrees with the canonical reader.
    doc: list[Callable[[Any], Request]] = (
        [] if value.get("images") is False else [request_from_value]
    )
    for reader in (read_request, *doc):
        with pytest.raises(PolicyError) as err:
            reader(value)
        assert [err.value.code, list(err.value.path)] == want["error"], reader


def test_null_fields_still_default(lua: Any) -> None:
    value = {"entry": None, "images": None}
    got: Any = decode(lua.request(encode(value)))
    assert got["entry"] == request_from_value(value).entry == "prompt"
    assert got["images"] == read_request(value).images == 0
