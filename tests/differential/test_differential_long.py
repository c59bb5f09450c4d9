"""The long differential run: Python vs lupa 5.3 / 5.4 vs lua5.3 vs mlua on decision bytes.

Reliability page: docs/RELIABILITY.md §8. Spec: docs/SPEC.md §5-§10. The CI-sized
differential suites share their strategies (`support/engine.py`) and their Lua driver
(`support/lua/engine.lua`); this run adds edge values: names of exactly 256 bytes and
non-ASCII names, `priority` at ±2^31, greybox positions at 0 and 2^31, a declared
field at its bounds. Each example decides in Python and in the four Lua states (lupa
5.3 and 5.4, the stand-alone lua5.3, mlua: GenVM's embedding) and compares the report
bytes (record, every planned attempt's parameters, rejections, scores) and, over
scripted failures, the cascade bytes. Run long with `HYPOTHESIS_PROFILE=long` (100,000
examples).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.drivers import driver
from support.engine import DOCS, blob, failures, py_cascade, py_report, requests, seeds
from support.engine import resolve as resolve_names
from support.luasandbox import driver_states
from support.policies import node_config, overlay

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import Policy
from genvm_policy.core.request import Request

EDGE_NAMES = ["a" * 256, "é" * 128, "模" * 85 + "a", "ｇpt-4o", "gpt-4о", "Z", "a-b", "a/b"]
BOUND = 2**31
rows = st.lists(
    st.tuples(
        st.sampled_from(EDGE_NAMES[:6]),
        st.sampled_from(EDGE_NAMES),
        st.booleans(),
        st.booleans(),
        st.none() | st.sampled_from([0, 1, BOUND]),
        st.none() | st.sampled_from([0, BOUND]),
        st.none() | st.sampled_from(["0", "0.000001", "1000000", "0.15"]),
        st.sampled_from(["basic", "standard", "premium"]),
        st.sampled_from([0, 1, 99, 100]),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda r: (r[0], r[1]),
)


def edge_catalog(rs: list[Any], priorities: list[int]) -> Catalog:
    """The catalog of `rs`, each backend's `meta.priority` drawn from the edge values."""
    config = node_config(rs)
    for name, p in zip(sorted(config["backends"]), priorities, strict=False):
        config["backends"][name]["meta"] = {"priority": p}
    return build_catalog(config, overlay(rs))


@st.composite
def cases(draw: st.DrawFn) -> tuple[Catalog, Policy, Request, bytes]:
    cat = edge_catalog(
        draw(rows), draw(st.lists(st.sampled_from([-BOUND, -1, 0, BOUND]), max_size=6))
    )
    doc = resolve_names(draw(DOCS), cat)
    try:
        policy = admit(doc, cat)
    except PolicyError as err:
        assert err.code in ("POL_BOUND", "POL_DUPLICATE"), err
        policy = admit({**doc, "score": 0, "select": "argmax"}, cat)
    return cat, policy, draw(requests), draw(seeds)


@pytest.fixture(scope="module")
def luas() -> Iterator[tuple[Any, ...]]:
    with driver_states(driver("engine")) as states:
        yield tuple(states.values())


@given(cases(), failures)
def test_five_runtimes_agree_on_edge_values(
    luas: tuple[Any, ...], case: tuple[Catalog, Policy, Request, bytes], outcomes: list[list[Any]]
) -> None:
    cat, policy, req, seed = case
    want = py_report(cat, policy, req, seed)
    for lua in luas:
        assert lua.report(blob(cat, policy, req, seed)) == want
    flow = py_cascade(cat, policy, req, seed, outcomes)
    for lua in luas:
        assert lua.cascade(blob(cat, policy, req, seed, outcomes=outcomes)) == flow
