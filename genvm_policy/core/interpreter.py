"""The interpreter: bind a policy to a catalog, and score over the bound catalog.

Spec: docs/SPEC.md §8 (Interpreter): binding and §8.2. Filter (§8.1) is its own
module, `genvm_policy.core.predicate`, which this one calls for `gate`; select
(§8.3) is `genvm_policy.core.selection`, which calls `score` here; mutate (§8.4) is
`genvm_policy.core.mutate`.

Rules:
1. Routes are ranked once by (provider bytes, model bytes); that rank is the
   tie-break of every order, so no order depends on input order, hash order
   or sort stability.
2. Score (§8.2): scorers are evaluated over the whole surviving population at
   once with checked integer arithmetic; `normalize` maps `v` to
   `(v − lo) × R // (hi − lo)` over the population's `[lo, hi]`, and to `R`
   when `hi = lo` (one route, or all equal).
3. `bind` checks the policy against the catalog before anything runs: every
   field a term names is declared (`POL_FIELD`), every constant compared with
   or defaulting a field is exact at its scale (`NUM_INEXACT`, `NUM_RANGE`),
   every `tier_at_least` tier is declared (`POL_TIER`). Terms are visited in
   pre-order (filter, score, select, then each mutation; arguments left to
   right); the first failure is raised at its path in the policy value.
4. Last, `bind` proves over this catalog's values that no scorer and no
   `weighted` sum can leave ±MAX (`genvm_policy.core.bounds`, `POL_BOUND`), so a
   bound policy's decisions cannot fail on arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter

from genvm_policy.core.bounds import prove
from genvm_policy.core.catalog import Catalog, Route
from genvm_policy.core.errors import Path, PolicyError
from genvm_policy.core.numeric import MAX, add, decimal_units, floordiv, mul, neg, sub
from genvm_policy.core.policy import BUILTIN_FIELDS, OPS, Policy, Term
from genvm_policy.core.predicate import COMPARE, Sieve, predicate
from genvm_policy.core.request import Request

__all__ = ["Bound", "bind", "score"]


@dataclass(frozen=True)
class Bound:
    """A policy bound to one catalog: routes in rank order and their field values.

    `columns` holds, for each field the policy reads, its value per rank (None
    when the route has none). `tiers_declared` is whether every route's tier is
    one the catalog declares; when it is not, `tier_at_least` can raise.
    """

    policy: Policy
    routes: tuple[Route, ...]
    columns: dict[str, tuple[int | None, ...]]
    scales: dict[str, int]
    tier_rank: dict[str, int]
    tiers_declared: bool
    preds: dict[int, Sieve] = field(default_factory=dict, compare=False, repr=False)


# op -> how `bind` walks its arguments, the last kind repeating (policy.OPS): "T" a term,
# "tiers" rows of [P, L], None data (names, routes, scalars, decimals), which reads no
# field. Ops with no term argument are left out.
_KIND = {"tiers": "tiers"} | dict.fromkeys("PSLM", "T")
_WALK: dict[str, tuple[str | None, ...]] = {
    op: walk
    for op, (_, kinds, _) in OPS.items()
    if any(walk := tuple(_KIND.get(kind.rstrip("*")) for kind in kinds))
}
_NAMED = ("has", "field", *COMPARE)
_NAMES = attrgetter("provider", "model")
_FIELDS = attrgetter("fields")


def bind(catalog: Catalog, policy: Policy) -> Bound:
    """Rank the catalog's routes (rule 1), check the policy (rule 3), read its fields once.

    What depends on the catalog alone (the rank order, each field's column, the
    first route outside a built-in field's bounds, whether every tier is
    declared) is derived once per catalog object (`Catalog.memo`); the checks
    of the policy against it run on every call, in the order rule 3 pins.
    """
    routes = _ranked_routes(catalog)
    scales = {name: decl[0] for name, decl in BUILTIN_FIELDS.items()}
    for decl in catalog.fields:
        scales[decl.name] = decl.scale
    tiers = {name: i for i, name in enumerate(catalog.tiers)}
    names = sorted(_analyse(policy, scales, tiers))
    builtin = [name for name in names if name in BUILTIN_FIELDS]
    bad = [(i, name) for name in builtin if (i := _first_out_of_bounds(catalog, name)) is not None]
    if bad:
        i, name = min(bad)
        value, (_, lo, hi) = getattr(routes[i], name), BUILTIN_FIELDS[name]
        raise PolicyError(
            "NUM_RANGE",
            ("routes", routes[i].provider, routes[i].model, name),
            f"`{name}` is `{value}`, outside the policy language's {lo} … {hi}",
            f"bring the node's `{name}` into that range, or leave `{name}` out of the policy "
            "(the field table of the spec, section 7)",
        )
    columns = {name: _column(catalog, name) for name in names}
    prove(policy, lambda name: _hull(catalog, name), scales, len(routes))
    declared = catalog.memo("tiers declared", lambda: _tiers_declared(routes, tiers))
    return Bound(policy, routes, columns, scales, tiers, declared)


def _hull(catalog: Catalog, name: str) -> tuple[int, int, bool] | None:
    """(lowest, highest, some route lacks it) of field `name`, derived once per catalog."""

    def make() -> tuple[int, int, bool] | None:
        column = _column(catalog, name)
        present = [v for v in column if v is not None]
        if not present:
            return None
        return min(present), max(present), len(present) < len(column)

    return catalog.memo(("hull", name), make)


def _ranked_routes(catalog: Catalog) -> tuple[Route, ...]:
    """The routes in rank order (rule 1), derived once per catalog; `build_catalog` leaves them so.

    Code point order of text is the byte order of its UTF-8, so comparing the
    text pairs agrees with the (provider bytes, model bytes) key of rule 1; a
    pair offered twice fails the length check and is sorted as before.
    """

    def make() -> tuple[Route, ...]:
        names = catalog.names()
        if len(names) == len(catalog.routes) and names == sorted(names):
            return catalog.routes
        return tuple(sorted(catalog.routes, key=lambda r: (r.provider.encode(), r.model.encode())))

    return catalog.memo("ranked", make)


def _column(catalog: Catalog, name: str) -> tuple[int | None, ...]:
    """Field `name` of every route in rank order (None where a route has none)."""

    def make() -> tuple[int | None, ...]:
        routes = _ranked_routes(catalog)
        if name in BUILTIN_FIELDS:
            return tuple(map(attrgetter(name), routes))
        return tuple(dict(pairs).get(name) for pairs in map(_FIELDS, routes))

    return catalog.memo(("column", name), make)


def _first_out_of_bounds(catalog: Catalog, name: str) -> int | None:
    """The first rank whose built-in field `name` lies outside the language's bounds."""

    def make() -> int | None:
        _, lo, hi = BUILTIN_FIELDS[name]
        column = _column(catalog, name)
        present = [value for value in column if value is not None]
        if not present or lo <= min(present) <= max(present) <= hi:
            return None
        return next(i for i, v in enumerate(column) if v is not None and not lo <= v <= hi)

    return catalog.memo(("bounds", name), make)


def _tiers_declared(routes: tuple[Route, ...], tiers: dict[str, int]) -> bool:
    return (set(map(attrgetter("tier"), routes)) - {None}).issubset(tiers)


def _analyse(policy: Policy, scales: dict[str, int], tiers: dict[str, int]) -> set[str]:
    """Check every term this catalog must serve (rule 3); the field names the policy reads.

    A policy admitted without its catalog may name what the decide-time catalog
    lacks; checking every term here, in one pinned order, gives both runtimes
    the same (code, path) whatever the population and the request. The names
    are those the field ops (`has`, the comparisons, `field`) name, met in the
    same walk: a name list or route that only looks like such a term (`model_in:
    [field, price_in]`) reads no field, so no bound of §7.2 applies to it.
    """
    found: set[str] = set()
    slots: list[tuple[Path, Term]] = [
        (("filter",), policy.filter),
        (("score",), policy.score),
        (("select",), policy.select),
        *((("mutate", n), m) for n, m in enumerate(policy.mutate)),
    ]
    for path, term in slots:
        _visit(term, path, scales, tiers, found)
    return found


def _visit(
    term: Term, path: Path, scales: dict[str, int], tiers: dict[str, int], found: set[str]
) -> None:
    """Check `term`, then its arguments left to right (pre-order)."""
    op = term[0]
    if op in _NAMED:
        if term[1] not in scales:
            raise PolicyError(
                "POL_FIELD",
                (*path, 1),
                f"the catalog declares no field `{term[1]}`",
                "declare the field in the overlay or admit the policy with its catalog",
            )
        found.add(term[1])
        if op != "has":
            decimal_units(term[2], scales[term[1]], (*path, 2))
    elif op == "tier_at_least" and term[1] not in tiers:
        raise PolicyError(
            "POL_TIER",
            (*path, 1),
            f"the catalog declares no tier `{term[1]}`",
            "declare the tier in the overlay or admit the policy with its catalog",
        )
    walk = _WALK.get(op)
    if walk is None:
        return
    for n in range(1, len(term)):
        kind, arg = walk[n - 1] if n <= len(walk) else walk[-1], term[n]
        if kind == "T":
            _visit(arg, (*path, n), scales, tiers, found)
        elif kind == "tiers":
            for j, (pred, inner) in enumerate(arg):
                _visit(pred, (*path, n, j, 0), scales, tiers, found)
                _visit(inner, (*path, n, j, 1), scales, tiers, found)


# -- score (§8.2) ------------------------------------------------------------
def score(term: Term, b: Bound, pop: list[int], req: Request) -> list[int]:
    """The value of scorer `term` for each route of `pop`, in `pop` order (rule 2)."""
    op = term[0]
    if op == "const":
        return [term[1]] * len(pop)
    if op == "field":
        default = decimal_units(term[2], b.scales[term[1]], ())
        column = b.columns[term[1]]  # `bind` read every field a term names
        return [default if (v := column[i]) is None else v for i in pop]
    if op == "route_value":
        table: dict[tuple[str, str], int] = {(p, m): v for p, m, v in term[1]}
        fallback: int = term[2]
        return [table.get(_NAMES(b.routes[i]), fallback) for i in pop]
    if op == "neg":
        inner = score(term[1], b, pop, req)
        return [-v for v in inner] if _span(inner) <= MAX else [neg(v) for v in inner]
    if op == "scale":
        inner, k, d = score(term[3], b, pop, req), term[1], term[2]
        top = _span(inner)
        if d != 0 and max(top, abs(k), abs(d)) <= MAX and top * abs(k) <= MAX:
            # Every product is at most `top · |k|` in magnitude, and so in range.
            return [v * k for v in inner] if d == 1 else [v * k // d for v in inner]
        return [floordiv(mul(v, k), d) for v in inner]
    if op in ("sum", "min", "max"):
        columns = [score(t, b, pop, req) for t in term[1:]]
        if op != "sum":
            return list(map(min if op == "min" else max, zip(*columns, strict=True)))
        if sum(map(_span, columns)) <= MAX:
            # No partial sum exceeds the columns' largest magnitudes added up.
            return list(map(sum, zip(*columns, strict=True)))
        out = columns[0]
        for col in columns[1:]:
            out = [add(x, y) for x, y in zip(out, col, strict=True)]
        return out
    if op == "gate":
        inner = score(term[2], b, pop, req)
        held = set(predicate(term[1], b)(pop, req))
        return [v if i in held else 0 for i, v in zip(pop, inner, strict=True)]
    inner = score(term[2], b, pop, req)  # "normalize", the last scorer op
    if not inner:
        return []
    lo, hi = min(inner), max(inner)
    if hi == lo:
        return [term[1]] * len(inner)
    r, span = term[1], hi - lo
    if max(-lo, hi, abs(r), span, abs(span * r)) <= MAX:
        # |(v − lo) · R| ≤ |(hi − lo) · R| ≤ MAX: no step below can leave the range.
        return [(v - lo) * r // span for v in inner]
    return [floordiv(mul(sub(v, lo), r), sub(hi, lo)) for v in inner]


def _span(column: list[int]) -> int:
    """The largest magnitude in `column`, 0 when empty (docs/IMPLEMENTATION.md §2).

    When an operation's operands and results are proved within ±MAX by it, its
    checked form cannot raise; else the checked form reruns and raises as specified.
    """
    return max(-min(column), max(column)) if column else 0
