"""The cost bound: the work one decision of a policy can take, proved at admission.

Spec: docs/SPEC.md §7.5 (Cost). Admission with a catalog calls `check_cost`.

Rules:
1. `COST` is the model: for each op, the work one of its terms costs per route
   of the catalog and once per decision, in units calibrated so that 1,000
   units are about a microsecond of the Lua 5.3 runtime on the reference
   machines (benchmarks/README.md, "Cost bound"). It over-estimates on purpose:
   a scorer or predicate the runtime tabulates is charged as if evaluated.
2. A term under `mutate` runs once per attempt, not per route: it is charged
   its fixed cost plus `MUTATE_TERM` (a `when` predicate is read for one route).
3. Draws: a `sample` selector makes at most `min(N, max_attempts + spread)`
   draws and a `weighted` one `max_attempts`, each `DRAW`; every random
   selector also opens its stream (`STREAM`). A `jitter` costs one block per
   attempt (its fixed cost).
4. A policy's cost at `N` routes is `BASE` plus the sum over its terms (filter,
   score, select, mutate; the failure plan costs nothing per decision). It is
   admitted when the cost is at most `LIMIT × max(N, 1000) ÷ 1000`: at most
   about 3 ms for 1,000 routes or fewer, growing with the catalog beyond (a
   decision is linear in the routes, §8.3). Otherwise `POL_COST` at the path,
   in the canonical policy value, of the costliest term.
"""

from __future__ import annotations

from collections.abc import Iterator

from genvm_policy.core.errors import Path, PolicyError
from genvm_policy.core.policy import OPS, Policy, Term

__all__ = ["BASE", "COST", "DRAW", "LIMIT", "STREAM", "check_cost", "policy_cost", "term_costs"]

# op -> (units per route, units per decision).
COST: dict[str, tuple[int, int]] = {
    # predicates: a table lookup per route, or a closure call for request facts
    **{op: (15, 0) for op, (sort, _, _) in OPS.items() if sort == "P"},
    **{op: (80, 0) for op in ("format_in", "entry_in", "role_in", "has_images", "request")},
    "fits_context": (100, 0),
    # scorers: a column per node, checked; population-wide ones cost more
    "const": (5, 0),
    "field": (15, 0),
    "route_value": (15, 0),
    "neg": (20, 0),
    "scale": (20, 0),
    "sum": (20, 0),
    "min": (20, 0),
    "max": (20, 0),
    "gate": (90, 0),
    "normalize": (90, 0),
    # selectors: a sort or a walk over the population
    "argmax": (40, 0),
    "greybox": (40, 0),
    "stock": (40, 0),
    "chain": (15, 0),
    "top_k": (5, 0),
    "weighted": (60, 0),
    "sample": (40, 0),
    "tiers": (20, 0),
    # mutations: once per attempt (rule 2)
    "set": (0, 500),
    "clamp": (0, 500),
    "jitter": (0, 80_000),
    "text_filters": (0, 500),
    "use_max_completion_tokens": (0, 500),
    "when": (0, 500),
}
BASE = (60, 50_000)  # bind lookup, the filter split, the record: per route, per decision
DRAW = 3_000  # one bounded draw (an eighth of an HMAC block) and its bookkeeping
STREAM = 80_000  # opening a random selector's stream: the HMAC key, two compressions
MUTATE_TERM = 2_000  # a predicate or scorer term read for one route (rule 2)
LIMIT = 3_000_000  # units at up to 1,000 routes: about 3 ms (rule 4)


def term_costs(policy: Policy, routes: int) -> Iterator[tuple[Path, str, int]]:
    """Every term of the policy with its path in the canonical value and its cost (rules 1-3)."""
    cap = policy.max_attempts
    yield from _walk(policy.filter, ("filter",), routes, cap, False)
    yield from _walk(policy.score, ("score",), routes, cap, False)
    yield from _walk(policy.select, ("select",), routes, cap, False)
    for n, m in enumerate(policy.mutate):
        yield from _walk(m, ("mutate", n), routes, cap, True)


def _walk(
    term: Term, path: Path, routes: int, cap: int, once: bool
) -> Iterator[tuple[Path, str, int]]:
    op = term[0]
    per_route, fixed = COST[op]
    cost = fixed + (MUTATE_TERM if once and per_route else per_route * routes)
    if op == "sample":
        cost += STREAM + min(routes, cap + term[1]) * DRAW
    elif op == "weighted":
        cost += STREAM + cap * DRAW
    yield path, op, cost
    kinds = OPS[op][1]
    for n, arg in enumerate(term[1:], 1):
        kind = kinds[min(n, len(kinds)) - 1].rstrip("*")
        if kind in ("P", "S", "L", "M", "A"):
            yield from _walk(arg, (*path, n), routes, cap, once)
        elif kind == "tiers":
            for j, (pred, inner) in enumerate(arg):
                yield from _walk(pred, (*path, n, j, 0), routes, cap, once)
                yield from _walk(inner, (*path, n, j, 1), routes, cap, once)


def policy_cost(policy: Policy, routes: int) -> int:
    """The cost of one decision of `policy` over `routes` routes (rule 4)."""
    return BASE[0] * routes + BASE[1] + sum(c for _, _, c in term_costs(policy, routes))


def check_cost(policy: Policy, routes: int) -> int:
    """The policy's cost at `routes` routes; `POL_COST` when it exceeds the limit (rule 4)."""
    total = policy_cost(policy, routes)
    limit = LIMIT * max(routes, 1000) // 1000
    if total > limit:
        path, op, worst = max(term_costs(policy, routes), key=lambda t: t[2])
        raise PolicyError(
            "POL_COST",
            path,
            f"one decision over {routes} routes may cost {total} units, over the limit of "
            f"{limit} (about {limit // 1_000_000} ms); the costliest term is `{op}` "
            f"({worst} units)",
            "use fewer or cheaper terms: `normalize`, `gate` and request facts cost most per "
            "route, a `sample` spread costs a draw per route, every random selector a stream",
        )
    return total
