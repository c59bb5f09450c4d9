"""Bind-time bounds: prove that no decision of a bound policy can leave ±MAX.

Spec: docs/SPEC.md §8 (Interpreter), "Bounds at bind". `interpreter.bind` calls
`prove` last, after the names and the built-in field bounds are checked.

Rules:
1. Every scorer of the policy (the `score` slot, and each `weighted` selector's
   scorer, anywhere in `select`) gets an interval over this catalog's routes
   and every request: `const n` is `[n, n]`; `field f d` the hull of the
   catalog's values of `f`, joined with `d` when some route has none;
   `route_value` the hull of its values and default; `neg`, `scale`, `sum`,
   `min`, `max`, `gate` (hull with 0, whatever its predicate) and `normalize`
   (`[0, R]`) as admission's analysis (§7.4). A request changes only which
   routes a `gate` or a filter keeps, never a route's value, so the hull over
   the catalog covers every request.
2. A `scale` whose products, a `sum` whose magnitudes added up, or a
   `normalize` whose `(hi − lo) · R` leave ±MAX is `POL_BOUND` at its path; a
   scorer's arguments are proved before the scorer (post-order).
3. `weighted S` sums at most one positive weight per route: it needs
   `routes × max(hi, 0) ≤ MAX`, else `POL_BOUND` at the `weighted` term.
4. Slots are proved in the order `score`, then `select` in pre-order (a
   `top_k`'s inner selector, each tier's selector in row order).
"""

from __future__ import annotations

from collections.abc import Callable

from genvm_policy.core.errors import Path, PolicyError
from genvm_policy.core.numeric import MAX, decimal_units
from genvm_policy.core.policy import Policy, Term

__all__ = ["Hull", "prove"]

Hull = Callable[[str], tuple[int, int, bool] | None]
"""Field name -> (lowest, highest, some route lacks it) over the catalog, or None when no
route has the field."""


def prove(policy: Policy, hull: Hull, scales: dict[str, int], routes: int) -> None:
    """Raise `POL_BOUND` at the first term whose values can leave ±MAX (rules 1–4)."""
    _scorer(policy.score, ("score",), hull, scales)
    _selector(policy.select, ("select",), hull, scales, routes)


def _selector(term: Term, path: Path, hull: Hull, scales: dict[str, int], routes: int) -> None:
    op = term[0]
    if op == "top_k":
        _selector(term[2], (*path, 2), hull, scales, routes)
    elif op == "tiers":
        for j, (_, inner) in enumerate(term[1]):
            _selector(inner, (*path, 1, j, 1), hull, scales, routes)
    elif op == "weighted":
        _, hi = _scorer(term[1], (*path, 1), hull, scales)
        if hi > 0 and hi > MAX // max(routes, 1):
            raise PolicyError(
                "POL_BOUND",
                path,
                f"the weights can reach `{hi}` on each of this catalog's {routes} routes, "
                "so their sum can leave ±(2^53 − 1)",
                f"keep every weight at most {MAX // max(routes, 1)} (scale the weight down)",
            )


def _scorer(term: Term, path: Path, hull: Hull, scales: dict[str, int]) -> tuple[int, int]:
    op = term[0]
    if op == "const":
        return term[1], term[1]
    if op == "field":
        default = decimal_units(term[2], scales[term[1]], (*path, 2))
        span = hull(term[1])
        if span is None:
            return default, default
        lo, hi, missing = span
        return (min(lo, default), max(hi, default)) if missing else (lo, hi)
    if op == "route_value":
        values = [row[2] for row in term[1]] + [term[2]]
        return min(values), max(values)
    if op == "neg":
        lo, hi = _scorer(term[1], (*path, 1), hull, scales)
        return -hi, -lo
    if op == "scale":
        k, d = term[1], term[2]
        lo, hi = _scorer(term[3], (*path, 3), hull, scales)
        ends = sorted((k * lo, k * hi))
        _within(max(-ends[0], ends[1]), path)
        return ends[0] // d, ends[1] // d
    if op in ("sum", "min", "max"):
        spans = [_scorer(t, (*path, n), hull, scales) for n, t in enumerate(term[1:], 1)]
        if op == "sum":
            _within(sum(max(-lo, hi) for lo, hi in spans), path)
            return sum(lo for lo, _ in spans), sum(hi for _, hi in spans)
        pick = min if op == "min" else max
        return pick(lo for lo, _ in spans), pick(hi for _, hi in spans)
    if op == "gate":
        lo, hi = _scorer(term[2], (*path, 2), hull, scales)
        return min(lo, 0), max(hi, 0)
    r = term[1]  # "normalize", the last scorer op
    lo, hi = _scorer(term[2], (*path, 2), hull, scales)
    _within((hi - lo) * r, path)
    return 0, r


def _within(magnitude: int, path: Path) -> None:
    if magnitude > MAX:
        raise PolicyError(
            "POL_BOUND",
            path,
            "this scorer can leave ±(2^53 − 1) for this catalog's values",
            "scale it down, or lower the catalog values it reads",
        )
