"""Predicates and the filter: which routes survive, and why the others do not.

Spec: docs/SPEC.md §8.1 (Filter). `genvm_policy.core.interpreter` binds the policy
(`Bound`) and scores; it and `genvm_policy.core.selection` ask predicates here.

Rules:
1. A route survives when the filter holds; a rejected route's reason is the
   first child of the top-level `all` that fails (or the whole filter when it
   is not an `all`). A missing field value fails every comparison.
2. Predicates run as sieves over a population, evaluating for each route the
   terms a route-by-route evaluation reaches.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from operator import attrgetter, eq, ge, gt, itemgetter, le, lt
from typing import TYPE_CHECKING

from genvm_policy.core.catalog import Route
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.numeric import decimal_units
from genvm_policy.core.policy import Term
from genvm_policy.core.request import Request

if TYPE_CHECKING:
    # For annotations only: `interpreter` imports this module at run time.
    from genvm_policy.core.interpreter import Bound

__all__ = ["COMPARE", "Sieve", "filter_routes", "holds", "predicate"]

Sieve = Callable[[list[int], Request], list[int]]
"""A compiled predicate: the ranks of a population (in its order) for which it holds.

A sieve never changes its argument and may return it.
"""

COMPARE: dict[str, Callable[[int, int], bool]] = {"lt": lt, "le": le, "eq": eq, "ge": ge, "gt": gt}
_NAMES = attrgetter("provider", "model")


# -- filter (§8.1) -----------------------------------------------------------
def predicate(term: Term, b: Bound) -> Sieve:
    """Predicate `term` as a sieve over route ranks, built once per term of `b.policy`."""
    fn = b.preds.get(id(term))
    if fn is None:
        fn = _compile(term, b)
        if not b.tiers_declared:
            # A `tier_at_least` may raise: sieve route by route, so the error is the
            # first one a route-by-route evaluation meets.
            fn = partial(_each, fn)
        b.preds[id(term)] = fn
    return fn


def holds(term: Term, b: Bound, i: int, req: Request) -> bool:
    """Whether predicate `term` holds for route `i` under request `req`."""
    return bool(predicate(term, b)([i], req))


def _each(fn: Sieve, pop: list[int], req: Request) -> list[int]:
    return [i for i in pop if fn([i], req)]


def _compile(term: Term, b: Bound) -> Sieve:
    """`term` as a sieve: the §8.1 predicate over a population, its constants read once.

    A child of `all`/`any` runs only on the ranks the children before it left
    undecided: per route, the terms evaluated are those a route-by-route
    evaluation reaches.
    """
    op, routes = term[0], b.routes
    if op == "true":
        return lambda pop, req: pop
    if op == "false":
        return lambda pop, req: []
    if op == "needs":
        return lambda pop, req: _needs(routes, pop, req)
    if op in ("json", "image", "has_tee", "no_log"):
        flag = attrgetter(op)
        return lambda pop, req: [i for i in pop if flag(routes[i])]
    if op in ("provider_in", "model_in", "family_in"):
        names, name = set(term[1]), attrgetter(op.removesuffix("_in"))
        return lambda pop, req: [i for i in pop if name(routes[i]) in names]
    if op == "route_in":
        pairs = {(p, m) for p, m in term[1]}
        return lambda pop, req: [i for i in pop if _NAMES(routes[i]) in pairs]
    if op == "tier_at_least":
        rank = b.tier_rank
        if term[1] in rank and b.tiers_declared:
            least = rank[term[1]]
            # Every route's tier has a rank: nothing can raise.
            return lambda pop, req: [
                i for i in pop if (t := routes[i].tier) is not None and rank[t] >= least
            ]
        return lambda pop, req: [i for i in pop if _tier_at_least(b, routes[i].tier, term[1])]
    if op == "has":
        column = b.columns[term[1]]
        return lambda pop, req: [i for i in pop if column[i] is not None]
    if op in COMPARE:
        # `bind` proved the constant exact at the field's scale: this cannot raise.
        compare, column = COMPARE[op], b.columns[term[1]]
        const = decimal_units(term[2], b.scales[term[1]], ())
        return lambda pop, req: [
            i for i in pop if (v := column[i]) is not None and compare(v, const)
        ]
    if op in ("format_in", "entry_in", "role_in"):
        allowed, fact = set(term[1]), attrgetter(op.removesuffix("_in"))
        return lambda pop, req: pop if fact(req) in allowed else []
    if op == "tier_in":
        tiers = set(term[1])
        return lambda pop, req: [i for i in pop if routes[i].tier in tiers]
    if op == "request":
        compare, fact, const = COMPARE[term[1]], attrgetter(term[2]), term[3]
        return lambda pop, req: pop if compare(fact(req), const) else []
    if op == "fits_context":
        per, reserve = term[1], term[2]
        return lambda pop, req: _fits(routes, pop, req, per, reserve)
    if op == "has_images":
        return lambda pop, req: pop if req.images > 0 else []
    kids = [_compile(t, b) for t in term[1:]]
    if op == "all":
        return lambda pop, req: _every(kids, pop, req)
    if op == "any":
        return lambda pop, req: _some(kids, pop, req)
    return lambda pop, req: _none(kids[0], pop, req)  # "not", the last predicate op


def _needs(routes: tuple[Route, ...], pop: list[int], req: Request) -> list[int]:
    json, image = req.needs_json, req.needs_image
    if not (json or image):
        return pop
    return [i for i in pop if (routes[i].json or not json) and (routes[i].image or not image)]


def _fits(
    routes: tuple[Route, ...], pop: list[int], req: Request, per: int, reserve: int
) -> list[int]:
    # ⌈prompt_bytes ÷ bytes_per_token⌉ + max_tokens + reserve < 2^35: no bound to check.
    need = -(-req.prompt_bytes // per) + req.max_tokens + reserve
    return [i for i in pop if (c := routes[i].context) is not None and c >= need]


def _every(kids: list[Sieve], pop: list[int], req: Request) -> list[int]:
    for kid in kids:
        if not pop:
            break
        pop = kid(pop, req)
    return pop


def _some(kids: list[Sieve], pop: list[int], req: Request) -> list[int]:
    held: set[int] = set()
    rest = pop
    for kid in kids:
        if not rest:
            break
        found = kid(rest, req)
        if found:
            held.update(found)
            rest = [i for i in rest if i not in held]
    return [i for i in pop if i in held]


def _none(kid: Sieve, pop: list[int], req: Request) -> list[int]:
    held = set(kid(pop, req))
    return [i for i in pop if i not in held]


def _tier_at_least(b: Bound, tier: str | None, least: str) -> bool:
    return tier is not None and _tier(b, tier) >= _tier(b, least)


def _tier(b: Bound, name: str) -> int:
    if name not in b.tier_rank:
        raise PolicyError(
            "POL_TIER",
            (),
            f"the catalog declares no tier `{name}`",
            "declare the tier in the overlay or admit the policy with its catalog",
        )
    return b.tier_rank[name]


def filter_routes(b: Bound, req: Request) -> tuple[list[int], list[tuple[int, Term]]]:
    """Split route ranks into survivors and (rejected, first failing predicate) (rule 1)."""
    top = b.policy.filter
    parts = top[1:] if top[0] == "all" else [top]
    checks = [(part, predicate(part, b)) for part in parts]
    ranks = list(range(len(b.routes)))
    # All routes part by part; route by route when a part may raise (see `predicate`).
    groups = [ranks] if b.tiers_declared else [[i] for i in ranks]
    survivors: list[int] = []
    rejected: list[tuple[int, Term]] = []
    for group in groups:
        for part, fn in checks:
            kept = fn(group, req)
            if len(kept) < len(group):
                # A byte per rank, not a set: at 10,000 routes a set's hashed
                # probes miss the CPU cache on nearly every lookup.
                held = bytearray(len(b.routes))
                for i in kept:
                    held[i] = 1
                rejected += [(i, part) for i in group if not held[i]]
            group = kept
        survivors += group
    rejected.sort(key=itemgetter(0))
    return survivors, rejected
