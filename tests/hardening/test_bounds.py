"""Resource bounds on the node: the largest admissible policy on the largest catalog.

Reliability page: docs/RELIABILITY.md §7. Spec: SPEC §7.4 (limits: 1,024 terms, depth 16,
256 items per list, `max_attempts`), §5 (at most 10,000 routes), §8 (the interpreter).

The per-call work of `decision.decide` in Lua 5.3 is counted in VM instructions with
`debug.sethook(f, "", STEP)` and memory with `collectgarbage("count")`, in a lupa Lua 5.3
state built *with* `debug` for this test only (GenVM's sandbox has none). Counts, not wall
time: they do not depend on the machine or its load. The bound is the algorithm's: one
filter and score pass over every route with every term (`N · T`), a sort of `N` precomputed
keys (`N · log2 N` comparisons) and per-route PRNG draws for `sample`.
"""

from __future__ import annotations

from typing import Any

import lupa.lua53
import pytest
from support.drivers import driver
from support.engine import blob, py_report
from support.luasandbox import DISPATCH, new_state
from support.policies import big_catalog

from genvm_policy.authoring.admission import admit
from genvm_policy.core.encoding import decode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import LIMITS
from genvm_policy.core.request import make_request

STEP = 1000
ROUTES = 10_000
# Instructions per (route × term) and per (route × log2 routes) comparison, and KiB per route:
# the constants of the stated bound (RELIABILITY.md §7), measured and rounded up.
PER_ROUTE_TERM, PER_COMPARE, FIXED = 40, 400, 2_000_000
KIB_PER_ROUTE = 8

COUNTER = driver("bounds_counter")


def largest_policy() -> dict[str, Any]:
    """A policy at the term limit: wide filters and scores that touch every route."""
    filters: list[dict[str, Any]] = [{"ge": {"quality": k}} for k in range(0, 60)]
    filters += [{"not": {"provider_in": [f"b{k:03d}"]}} for k in range(60)]
    scores = [{"scale": {"by": k + 1, "div": 7, "of": {"field": "quality"}}} for k in range(120)]
    scores += [{"gate": {"if": {"tier_at_least": "standard"}, "then": {"neg": "price_in"}}}] * 1
    scores += [{"normalize": {"of": {"sum": [{"field": "quality"}, {"neg": "price_in"}]},
                              "to": 1000}}]  # fmt: skip  # a table laid out by hand in rows
    return {
        "filter": [{"any": filters[i : i + 40]} for i in range(0, 120, 40)],
        "score": {"sum": scores},
        "select": {"top_k": {"k": 64, "of": {"sample": 2**20}}},
        "mutate": [
            {"jitter": {"temperature": ["-0.5", "0.5"], "max_tokens": [-100, 100]}},
            {"text_filters": ["NFKC"]},
            "use_max_completion_tokens",
        ],
        "on_failure": {"server": {"retry": {"attempts": 5, "backoff_ms": 100}}},
        "max_attempts": LIMITS["max_attempts"],
    }


def count(n: int) -> tuple[int, float, int, int]:
    cat = big_catalog(n)
    # Admitted without the catalog: with it, the cost bound (SPEC §7.5) refuses this
    # policy, and the runtime's work must stay bounded for whatever reaches it.
    pol = admit(largest_policy())
    lua = lupa.lua53.LuaRuntime(encoding=None, unpack_returned_tuples=True)
    lua.execute(b"package.path = ...", str(DISPATCH / "?.lua").encode())
    req = make_request("prompt", "json", 0, 0, 700, 1000)
    ticks, kib, planned = lua.execute(COUNTER)(blob(cat, pol, req, bytes(32)), STEP)
    return ticks, kib, planned, len(pol_terms(pol.value))


def pol_terms(term: Any) -> list[Any]:
    if isinstance(term, list) and term and isinstance(term[0], str):
        return [term] + [t for x in term[1:] for t in pol_terms(x)]
    if isinstance(term, list | dict):
        items = term.values() if isinstance(term, dict) else term
        return [t for x in items for t in pol_terms(x)]
    return []


def test_the_cost_bound_refuses_the_largest_policy_at_its_costliest_term() -> None:
    with pytest.raises(PolicyError) as err:
        admit(largest_policy(), big_catalog(ROUTES))
    assert err.value.code == "POL_COST" and err.value.path == ("select", 2)


def test_largest_policy_on_largest_catalog_stays_within_the_bound() -> None:
    ticks, kib, planned, terms = count(ROUTES)
    log2 = ROUTES.bit_length()
    bound = PER_ROUTE_TERM * ROUTES * terms + PER_COMPARE * ROUTES * log2 + FIXED
    print(f"routes {ROUTES} terms {terms} instructions {ticks} bound {bound} KiB {kib:.0f}")
    assert planned == LIMITS["max_attempts"]
    assert ticks <= bound
    assert kib <= KIB_PER_ROUTE * ROUTES


@pytest.mark.parametrize("needs_json", [False, True])
def test_largest_policy_past_the_table_allowance_decides_as_the_reference(
    needs_json: bool,
) -> None:
    # The largest policy asks for far more route-sized tables than a bound policy
    # may keep (tabulate.lua `TABLES`): the rest is evaluated per decision,
    # and the report must still be the reference's, byte for byte.
    cat = big_catalog(6000)  # the policy names providers b000 … b059
    pol = admit(largest_policy())  # see `count`: the cost bound refuses it with the catalog
    req = make_request("prompt", "json" if needs_json else "text", 0, 0, 700, 1000)
    lua = new_state("lua53", binary=True).execute(driver("engine"))
    for seed in (bytes(32), bytes(range(32))):
        want = py_report(cat, pol, req, seed)
        assert lua.report(blob(cat, pol, req, seed)) == want
        got = decode(want)
        assert isinstance(got, dict) and "error" not in got
