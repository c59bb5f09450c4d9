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
from luasandbox import ROOT, new_state
from test_lua_engine import cases, py_report, requests

from genvm_policy.core.catalog import Catalog, catalog_value
from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.policy import OPS, Policy
from genvm_policy.core.request import Request, request_value

# Stands in for `genvm_policy.tabulate`: every call runs the function it is handed.
SPEC_SHAPED = rb"""
local spec = { TABLES = 0, ROUTE_OPS = {}, REQUEST_OPS = {} }
function spec.bind(catalog, policy, bind) return bind(catalog, policy) end
function spec.sieve(_, _, sieve) return sieve end
function spec.filter_routes(b, req, filter) return filter(b, req) end
function spec.score(term, b, pop, req, score) return score(term, b, pop, req) end
function spec.column(b, attr, default)
  local column = {}
  for r = 1, #b.routes do
    local v = b.routes[r][attr]
    if v == nil then v = default end
    column[r - 1] = v
  end
  return column
end
function spec.by_rank(_, pop, values)
  local out = {}
  for k = 1, #pop do out[pop[k]] = values[k] end
  return out
end
package.loaded["genvm_policy.tabulate"] = spec
"""

DRIVER = rb"""
local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local catalog = require("genvm_policy.catalog")
local policy = require("genvm_policy.policy")
local request = require("genvm_policy.request")
local decision = require("genvm_policy.decision")
local interpreter = require("genvm_policy.interpreter")
local tabulate = require("genvm_policy.tabulate")
local array, map = encoding.array, encoding.map

local D = {}

-- The report of each request in turn, decided against one catalog object with
-- an allowance of `tables`; a registered error as {error = {code, path}}.
function D.reports(blob, tables)
  local v = encoding.decode(blob)
  tabulate.TABLES = tables
  local c, p = catalog.from_value(v.catalog), policy.from_value(v.policy)
  local out = {}
  for k = 1, #v.requests do
    local ok, got = pcall(function()
      local d = decision.decide(c, p, request.from_value(v.requests[k]), v.seed[1])
      return decision.report(d)
    end)
    if not ok then
      if not errors.is_error(got) then error(got, 0) end
      got = map({ error = array({ got.code, array(got.path) }) })
    end
    out[k] = encoding.bytes(encoding.encode(got))
  end
  local ok, b = pcall(interpreter.bind, c, p)
  local keys = {}
  if ok then
    for key in pairs(b) do keys[#keys + 1] = key end  -- order-free: sorted below
    table.sort(keys, encoding.bytes_less)
  end
  return encoding.encode(map({ reports = array(out), bound = array(keys) }))
end

return D
"""

BOUND_FIELDS = sorted(
    ["columns", "policy", "preds", "routes", "scales", "tier_rank", "tiers_declared"]
)


@pytest.fixture(scope="module", params=["lua53", "lua54"])
def states(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    tabulated = new_state(request.param, binary=True)
    spec = new_state(request.param, binary=True)
    spec.execute(SPEC_SHAPED)
    yield tabulated.execute(DRIVER), spec.execute(DRIVER)


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
