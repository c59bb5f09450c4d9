"""The Lua runtime's speed-ups (`dispatch/genvm_policy/tabulate.lua`) change nothing but cost.

Spec: docs/SPEC.md, "Lua runtime notes"; docs/IMPLEMENTATION.md §4. Every call
of `tabulate` hands it the spec-shaped function it speeds up. Here a second
Lua state replaces the module with one that calls that function every time,
and both states, and the Python reference, decide the same requests in turn
against one catalog object, so per-shape tables and the allowance's
exhaustion are exercised: the reports must be byte-identical, in Lua 5.3 and
5.4. The module's op classification must cover the predicate grammar, a
bound policy must hold only what `bind` declares, and the partial-order
threshold must be the reference's.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.drivers import driver
from support.engine import cases, py_report, requests
from support.luasandbox import ROOT, new_state

from genvm_policy.core.catalog import Catalog, catalog_value
from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.policy import OPS, Policy
from genvm_policy.core.request import Request, request_value

pytestmark = pytest.mark.runtimes("lupa")

BOUND_FIELDS = sorted(
    ["columns", "policy", "preds", "routes", "scales", "tier_rank", "tiers_declared"]
)


@pytest.fixture(scope="module")
def states(runtime: str) -> Iterator[tuple[Any, Any]]:
    tabulated = new_state(runtime, binary=True)
    spec = new_state(runtime, binary=True)
    spec.execute(driver("tabulate_spec_shaped"))
    yield (
        tabulated.execute(driver("tabulate_decisions")),
        spec.execute(driver("tabulate_decisions")),
    )


def _blob(cat: Catalog, policy: Policy, reqs: list[Request], seed: bytes) -> bytes:
    return encode(
        {
            "catalog": catalog_value(cat),
            "policy": policy.value,
            "requests": [request_value(r) for r in reqs],
            "seed": seed,
        }
    )


@settings(max_examples=max(200, settings().max_examples))
@given(cases(), st.lists(requests, min_size=1, max_size=5), st.sampled_from([64, 0, 1, 3]))
def test_tabulated_decisions_are_the_spec_shaped_ones(
    states: tuple[Any, Any],
    case: tuple[Catalog, Policy, Request, bytes],
    more: list[Request],
    tables: int,
) -> None:
    cat, policy, req, seed = case
    reqs = [req, *more, req]
    data = _blob(cat, policy, reqs, seed)
    tabulated, spec = states
    got, plain = decode(tabulated.reports(data, tables)), decode(spec.reports(data, tables))
    assert isinstance(got, dict) and isinstance(plain, dict)
    want = [py_report(cat, policy, r, seed) for r in reqs]
    assert got["reports"] == want
    assert plain["reports"] == want
    # Nothing is written into a bound policy: its fields are those `bind` makes.
    assert got["bound"] in ([], BOUND_FIELDS)


def _lua_set(text: str, name: str) -> set[str]:
    """The keys of the literal table `M.<name> = { … }` in `text`."""
    start = text.index(f"M.{name} = {{")
    body = text[start : text.index("}", start)]
    found: set[str] = set()
    for item in body.split("{", 1)[1].split(","):
        key = item.split("=")[0].strip()
        if key:
            found.add(key.strip('[]"'))
    return found


def test_every_predicate_op_is_classified() -> None:
    text = (ROOT / "dispatch" / "genvm_policy" / "tabulate.lua").read_text(encoding="utf-8")
    route, request = _lua_set(text, "ROUTE_OPS"), _lua_set(text, "REQUEST_OPS")
    special = {"needs", "tier_at_least", "all", "any", "not"}
    predicates = {op for op, (sort, _, _) in OPS.items() if sort == "P"}
    assert not route & request and not (route | request) & special
    assert route | request | special == predicates


def _python_constant(name: str) -> object:
    tree = ast.parse((ROOT / "genvm_policy" / "core" / "selection.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"selection.py has no `{name}`")


def test_partial_order_threshold_is_the_references() -> None:
    lua = new_state("lua53")
    assert lua.eval('require("genvm_policy.selection").PARTIAL_MAX') == _python_constant(
        "_PARTIAL_MAX"
    )
