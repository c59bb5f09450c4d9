"""The CI differential suite: Python vs lupa Lua 5.3 / 5.4 vs lua5.3 vs mlua, byte for byte.

Spec: docs/SPEC.md §6-§10 and "Lua runtime notes". Each property builds its
inputs once, runs them in the reference and in one long-lived lupa Lua 5.3, one
lupa Lua 5.4, one stand-alone lua5.3 and one mlua state (GenVM's embedding,
dispatch/mlua-host; one per runtime per property, not per example), and compares
canonical CBOR: decision reports (record, identities, every planned attempt's
parameters, rejections, scores), cascades over scripted outcomes, and the
(code, path) of every error. Catalogs mix names whose byte order differs from
collation, ties, one-route catalogs, populations the filter empties, integers
at the language's field bounds, and catalogs that lack the fields and tiers a
policy admitted without a catalog names (`bind`, §8 rule 6).

The CI profile runs 2,100 examples in all; `HYPOTHESIS_PROFILE=long` runs
100,000 per property. A disagreement becomes a fix in both runtimes and a named
vector case (SPEC "Vectors"), never an exclusion here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.drivers import driver
from support.engine import DOCS, blob, failures, py_cascade, py_report, requests, seeds
from support.engine import resolve as resolve_names
from support.luasandbox import driver_states
from support.policies import node_config, overlay

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.errors import CODES, PolicyError
from genvm_policy.core.policy import Policy
from genvm_policy.core.request import Request, request_from_value, request_value
from genvm_policy.vectors.run_policy import read_request


def budget(n: int) -> settings:
    """`n` examples under the CI profile; the long profile's count when it is larger."""
    return settings(max_examples=max(n, settings().max_examples))


@pytest.fixture(scope="module")
def luas() -> Iterator[tuple[Any, ...]]:
    with driver_states(driver("engine")) as states:
        yield tuple(states.values())


def agree(luas: tuple[Any, ...], fn: str, data: bytes, want: bytes) -> None:
    """Both Lua states give `want` for `fn(data)`."""
    for lua in luas:
        assert getattr(lua, fn)(data) == want, decode(want)


# -- catalogs ------------------------------------------------------------------
# Names whose UTF-8 order differs from collation: case, accents, fullwidth,
# CJK, a Cyrillic look-alike, a 256-byte name, prefixes and separators.
NAMES = [
    "alpha",
    "Alpha",
    "zeta",
    "Zulu",
    "éclair",
    "Äpfel",
    "ß",
    "ａ",
    "模型",
    "a",
    "a-b",
    "gpt/4o",
    "a" * 256,
    "gpt-4о",
    "Z",
]
BOUND = 2**31
rows = st.lists(
    st.tuples(
        st.sampled_from(NAMES[:9]),
        st.sampled_from(NAMES),
        st.booleans(),
        st.booleans(),
        st.none() | st.sampled_from([0, 1, 2, BOUND]),
        st.none() | st.sampled_from([0, 1, BOUND]),
        st.none() | st.sampled_from(["0", "0.000001", "0.15", "1", "1000000"]),
        st.sampled_from(["basic", "standard", "premium"]),
        st.sampled_from([0, 1, 50, 99, 100]),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda r: (r[0], r[1]),
)
priorities = st.lists(st.sampled_from([-BOUND, -1, 0, 1, BOUND]), max_size=8)


def build(rs: list[Any], prio: list[int], bare: bool) -> Catalog:
    """The catalog of `rs`; `bare` drops the `quality` field and renames the tiers."""
    config = node_config(rs)
    for name, p in zip(sorted(config["backends"]), prio, strict=False):
        config["backends"][name]["meta"] = {"priority": p}
    extra = overlay(rs)
    if bare:
        extra = {
            "version": 1,
            "tiers": ["gold"],
            "routes": {
                provider: {
                    model: {k: v for k, v in facts.items() if k not in ("fields", "tier")}
                    for model, facts in models.items()
                }
                for provider, models in extra["routes"].items()
            },
        }
    return build_catalog(config, extra)


@st.composite
def cases(draw: st.DrawFn, unbound: bool = False) -> tuple[Catalog, Policy, Request, bytes]:
    """A catalog, a policy admitted against it (or, `unbound`, without one), a request, a seed."""
    bare = unbound and draw(st.booleans())
    cat = build(draw(rows), draw(priorities), bare)
    doc = resolve_names(draw(DOCS), cat)
    try:
        policy = admit(doc, None if unbound else cat)
    except PolicyError as err:
        # Interval analysis may refuse a generated scorer; keep the rest of the policy.
        assert err.code in ("POL_BOUND", "POL_DUPLICATE"), err
        policy = admit({**doc, "score": 0, "select": "argmax"}, None if unbound else cat)
    return cat, policy, draw(requests), draw(seeds)


# -- decisions and cascades ------------------------------------------------------
@budget(800)
@given(cases())
def test_decisions_agree(
    luas: tuple[Any, ...], case: tuple[Catalog, Policy, Request, bytes]
) -> None:
    cat, policy, req, seed = case
    want = py_report(cat, policy, req, seed)
    got: Any = decode(want)
    # Admission bounds every scorer; only a `weighted` sum over this catalog's routes is
    # left to bind (SPEC §8, bounds at bind). No decision of a bound policy raises.
    assert "error" not in got or (
        got["error"][0] == "POL_BOUND" and got["error"][1][0] == "select"
    ), got
    agree(luas, "report", blob(cat, policy, req, seed), want)


@budget(500)
@given(cases(), failures)
def test_cascades_agree(
    luas: tuple[Any, ...], case: tuple[Catalog, Policy, Request, bytes], outcomes: list[list[Any]]
) -> None:
    cat, policy, req, seed = case
    want = py_cascade(cat, policy, req, seed, outcomes)
    agree(luas, "cascade", blob(cat, policy, req, seed, outcomes=outcomes), want)


@budget(400)
@given(cases(unbound=True))
def test_policies_admitted_without_a_catalog_agree(
    luas: tuple[Any, ...], case: tuple[Catalog, Policy, Request, bytes]
) -> None:
    cat, policy, req, seed = case
    want = py_report(cat, policy, req, seed)
    got: Any = decode(want)
    # Bind refuses what the catalog lacks, or what it cannot bound; a bound policy's
    # decision never raises (no `NUM_RANGE`: the proof of SPEC §8 is sound).
    assert "error" not in got or got["error"][0] in (
        "POL_FIELD",
        "POL_TIER",
        "NUM_INEXACT",
        "POL_BOUND",
    ), got
    agree(luas, "report", blob(cat, policy, req, seed), want)


# -- requests ------------------------------------------------------------------
TEXTS = st.sampled_from(
    [
        "",
        "prompt",
        "EqComparative",
        "EqNonComparativeLeader",
        "EqNonComparativeValidator",
        "text",
        "json",
        "bool",
        "xml",
        "Prompt",
    ]
)
NUMBERS = st.sampled_from([-1, 0, 1, 16, 17, 700, 2000, 2001, 2**32 - 1, 2**32])
request_maps = st.dictionaries(
    st.sampled_from(
        ["entry", "format", "images", "prompt_bytes", "temperature", "max_tokens", "model", "Entry"]
    ),
    st.none() | TEXTS | NUMBERS | st.booleans(),
    max_size=6,
)


def canonical(value: dict[str, Any]) -> bytes:
    try:
        return encode(request_value(read_request(value)))
    except PolicyError as err:
        return encode({"error": [err.code, list(err.path)]})


@budget(400)
@given(request_maps)
def test_request_values_agree(luas: tuple[Any, ...], value: dict[str, Any]) -> None:
    want = canonical(value)
    agree(luas, "request", encode(value), want)
    got: Any = decode(want)
    if "error" in got:
        assert got["error"][0] in CODES
    # The document reader agrees wherever the document form is the canonical form:
    # text `entry`/`format`, integer counts. A file may also write numbers as text, and
    # writes the temperature at scale 3 (`0.7`), so those are left to the canonical reader.
    numbers = [value.get(k) for k in ("images", "prompt_bytes", "max_tokens")]
    if "temperature" not in value and all(
        v is None or type(v) is int
        for v in numbers  # `bool` is not a count
    ):
        try:
            doc = encode(request_value(request_from_value(value)))
        except PolicyError as err:
            doc = encode({"error": [err.code, list(err.path)]})
        assert doc == want
