"""How alike a set of validators route: first choices, entropy, jury collisions.

Spec: docs/SPEC.md §12 (Diversity). Tooling, not the deterministic core: the
selection itself goes through the reference interpreter; entropy and the
effective number are floats for display, probabilities are exact fractions.

Rules:
1. A validator's *first choice* for a request is attempt 0 of its decision:
   the first route of the failover order and that attempt's parameters, from
   `bind` (once per policy), `filter_routes`, `score`, `select` and `mutate`.
   A validator with no route for the request is in the group `NO_ROUTE`.
2. Distributions count validators per family and per exact route. Entropy is
   `H = −Σ p·log2 p` in bits over those groups; the effective number is `2^H`.
3. The largest family share is flagged above 1/3 and above 1/2 (`FLAGS`).
4. Collision probability: two distinct validators drawn at random (without
   replacement) have the same group, `Σ c(c − 1) / (N(N − 1))`.
5. Jury probability for a jury of `k` (5, 11, 23: `JURIES`): the exact chance
   that a jury of `k` distinct validators, every such jury equally likely, has
   a majority (`k // 2 + 1`: 3 of 5, 6 of 11, 12 of 23) sharing one family. It
   is `1 − A / C(N, k)` with `A` the coefficient of `x^k` in
   `Π_f Σ_{j < t} C(c_f, j) x^j`: the juries in which no family reaches `t`.
   With fewer than `k` validators it is undefined (None).
6. Temperatures of the first attempt are counted in buckets of `BUCKET`
   milli-units; text-filter recipes are counted as whole ordered lists, an
   attempt without filters (it sends the stock text) as `NO_FILTERS`.
7. The family `unknown` (a router, SPEC §5.8) may be any model, so every
   family-level figure counts its validators as members of the largest other
   family (`worst_case`): `unknown` never lowers a concentration figure. The
   shares listed keep `unknown` apart, so the reader sees how many there are.
8. Quality: per class, the share of first choices that are the node's own
   first choice (what `stock-greybox` chooses for the same validator and
   request) and the share that lie inside the vetted chain (a route with a
   `meta.greybox` position for the request's chain: image requests the image
   chain, all others the text chain); no route has a position for that chain
   gives None.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import comb

from genvm_policy.core.catalog import Route
from genvm_policy.core.family import UNKNOWN
from genvm_policy.core.interpreter import Bound, score
from genvm_policy.core.mutate import mutate
from genvm_policy.core.predicate import filter_routes
from genvm_policy.core.request import Request
from genvm_policy.core.selection import select

__all__ = [
    "BUCKET",
    "FLAGS",
    "JURIES",
    "NO_FILTERS",
    "NO_ROUTE",
    "ClassReport",
    "FirstChoice",
    "Quality",
    "analyse",
    "chain_position",
    "collision_probability",
    "entropy_bits",
    "first_choice",
    "jury_probability",
    "majority",
    "quality",
    "worst_case",
]

NO_ROUTE = "(no route)"
NO_FILTERS = "(none)"
JURIES = (5, 11, 23)
FLAGS = (Fraction(1, 3), Fraction(1, 2))
BUCKET = 50


@dataclass(frozen=True)
class FirstChoice:
    """Attempt 0 of one validator's decision for one request (rule 1)."""

    family: str
    route: str
    temperature: int | None
    filters: tuple[str, ...] | None
    chained: bool = False
    """Whether the route has a position in the request's vetted chain (rule 8)."""


def chain_position(route: Route, request: Request) -> int | None:
    """`route`'s position in the vetted chain `request` follows (rule 8), None outside it."""
    return route.greybox_image if request.needs_image else route.greybox_text


def first_choice(bound: Bound, request: Request, seed: bytes) -> FirstChoice:
    """The first attempt of `bound`'s decision for `request` under call key `seed`."""
    survivors, _ = filter_routes(bound, request)
    values = score(bound.policy.score, bound, survivors, request)
    order = select(bound, survivors, dict(zip(survivors, values, strict=True)), request, seed, 1)
    if not order:
        return FirstChoice(NO_ROUTE, NO_ROUTE, None, None)
    route = bound.routes[order[0]]
    params = mutate(bound, order[0], 0, request, seed)
    return FirstChoice(
        route.family,
        f"{route.provider}/{route.model}",
        params.temperature,
        params.text_filters,
        chain_position(route, request) is not None,
    )


@dataclass(frozen=True)
class Quality:
    """How far a class's first choices stay with the operator's own choices (rule 8)."""

    node_first: Fraction
    in_chain: Fraction | None


def quality(
    choices: Sequence[FirstChoice], node: Sequence[FirstChoice], has_chain: bool
) -> Quality:
    """Shares of `choices` equal to the node's own first choice `node` (same validator) and
    inside the vetted chain (None when the class has no chain)."""
    same = sum(c.route == n.route for c, n in zip(choices, node, strict=True))
    inside = Fraction(sum(c.chained for c in choices), len(choices)) if has_chain else None
    return Quality(Fraction(same, len(choices)), inside)


def worst_case(families: Counter[str]) -> tuple[tuple[str, int], ...]:
    """Family counts with `unknown` joined to the largest other family (rule 7).

    Joining them all to the largest group is the assignment of unknown routers
    to families that raises every concentration figure the most; `NO_ROUTE` is
    not a family a router could be.
    """
    unknown = families.get(UNKNOWN, 0)
    rest = {k: c for k, c in families.items() if k != UNKNOWN}
    known = _ranked(Counter({k: c for k, c in rest.items() if k != NO_ROUTE}))
    if unknown and known:
        rest[known[0][0]] += unknown
    elif unknown:
        rest[UNKNOWN] = unknown
    return _ranked(Counter(rest))


def majority(k: int) -> int:
    """The smallest majority of a jury of `k`: 3 of 5, 6 of 11, 12 of 23."""
    return k // 2 + 1


def jury_probability(counts: Sequence[int], k: int, t: int) -> Fraction | None:
    """The chance that some group has `t` or more members in a random `k`-jury (rule 5)."""
    n = sum(counts)
    if k < 1 or n < k:
        return None
    below = [1] + [0] * k  # below[i]: i-juries so far in which no group reaches t
    for c in counts:
        grown = [0] * (k + 1)
        for i, ways in enumerate(below):
            if ways:
                for j in range(min(t - 1, c, k - i) + 1):
                    grown[i + j] += ways * comb(c, j)
        below = grown
    return 1 - Fraction(below[k], comb(n, k))


def collision_probability(counts: Sequence[int]) -> Fraction | None:
    """The chance that two distinct random validators share a group (rule 4)."""
    n = sum(counts)
    if n < 2:
        return None
    return Fraction(sum(c * (c - 1) for c in counts), n * (n - 1))


def entropy_bits(counts: Sequence[int]) -> float:
    """Shannon entropy in bits of the distribution given by `counts` (rule 2)."""
    n = sum(counts)
    return -sum(c / n * math.log2(c / n) for c in counts if c) + 0.0


def _ranked(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
    # Most validators first, ties by name bytes: a total order.
    return tuple(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0].encode())))


def _bucket(milli: int) -> str:
    low = milli // BUCKET * BUCKET
    high = low + BUCKET - 1
    return f"{low // 1000}.{low % 1000:03d}–{high // 1000}.{high % 1000:03d}"


@dataclass(frozen=True)
class ClassReport:
    """The diversity of one request class across the validators (rules 2–6)."""

    name: str
    validators: int
    families: tuple[tuple[str, int], ...]
    routes: tuple[tuple[str, int], ...]
    temperatures: tuple[tuple[str, int], ...]
    recipes: tuple[tuple[str, int], ...]
    family_bits: float
    route_bits: float
    largest: Fraction
    family_collision: Fraction | None
    route_collision: Fraction | None
    juries: tuple[tuple[int, Fraction | None], ...]
    unknown: int = 0
    """Validators whose first choice is a router of unknown model (rule 7)."""
    top: str = ""
    """The largest family once `unknown` is joined to it (rule 7)."""
    quality: Quality | None = None

    @property
    def flags(self) -> tuple[Fraction, ...]:
        """The thresholds of `FLAGS` the largest family share is above."""
        return tuple(f for f in FLAGS if self.largest > f)


def analyse(
    name: str,
    choices: Sequence[FirstChoice],
    node: Sequence[FirstChoice] | None = None,
    has_chain: bool = False,
) -> ClassReport:
    """The report of one request class from every validator's first choice.

    With `node`, the node's own first choice for each validator (rule 8), the
    report carries the quality shares; `has_chain` says whether the class has
    a vetted chain at all.
    """
    families = Counter(c.family for c in choices)
    routes = Counter(c.route for c in choices)
    temperatures = Counter(_bucket(c.temperature) for c in choices if c.temperature is not None)
    recipes = Counter(",".join(c.filters) or NO_FILTERS for c in choices if c.filters is not None)
    joined = worst_case(families)
    counts = [c for _, c in joined]
    return ClassReport(
        name=name,
        validators=len(choices),
        families=_ranked(families),
        routes=_ranked(routes),
        temperatures=tuple(sorted(temperatures.items())),
        recipes=_ranked(recipes),
        family_bits=entropy_bits(counts),
        route_bits=entropy_bits(list(routes.values())),
        largest=Fraction(max(counts), len(choices)),
        family_collision=collision_probability(counts),
        route_collision=collision_probability(list(routes.values())),
        juries=tuple((k, jury_probability(counts, k, majority(k))) for k in JURIES),
        unknown=families.get(UNKNOWN, 0),
        top=joined[0][0],
        quality=quality(choices, node, has_chain) if node is not None else None,
    )
