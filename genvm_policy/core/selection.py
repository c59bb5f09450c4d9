"""Select: the failover order of the surviving routes, best first.

Spec: docs/SPEC.md §8.3 (Select).

Rules:
1. Every order is total: `argmax` by (score descending, rank), `greybox` by
   (position, rank), `stock` by (position, rank) or, when no survivor has a
   position for the request's class, by (priority descending, rank),
   `sample` by (key, position); `chain` keeps its list
   order and `tiers` the order of its rows. Rank is the bound catalog's
   (interpreter rule 1), so no order depends on input order, hash order or
   sort stability.
2. Random selectors draw from `select/<op>/<n>`, `n` counting the random
   selectors in the order they are evaluated (pre-order of the select term;
   every tier's selector is evaluated, even on an empty subset).
3. The limit rule: `select` returns the whole failover order, or with a
   limit `L` its first `L` routes and nothing beyond. A limit stops only
   draws and picks: every tier and scorer still runs, so it raises what the
   whole order raises; `top_k k X` gives `X` the limit `min(k, L)` and a tier
   the limit left after the tiers before it.
4. `tiers` places a route in the first tier whose selector places it: a
   member its selector leaves out stays for the later tiers.
5. `weighted` draws `min(L, routes with weight > 0)` times, through a Fenwick
   tree over the weights in rank order (O(log N) per pick, the §8.3 walk pick
   for pick); `Σw` is a checked sum.
6. `sample` draws only for the first `L + spread` positions of argmax's
   order: a later position cannot reach the first `L` places.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from itertools import accumulate
from operator import attrgetter, neg

from genvm_policy.core.interpreter import Bound, score
from genvm_policy.core.numeric import MAX, add
from genvm_policy.core.policy import Term
from genvm_policy.core.predicate import predicate
from genvm_policy.core.prng import Stream
from genvm_policy.core.request import Request

__all__ = ["select"]

_PARTIAL_MAX = 32
"""Up to this limit the first `limit` of an order are kept as they come (a heap of
that size here, insertion into a sorted prefix in the Lua runtime's
`selection.PARTIAL_MAX`); above it a full sort is cheaper."""


# -- select (§8.3) -----------------------------------------------------------
class _Draws:
    """Numbers the random selectors in evaluation order (rule 2)."""

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.count = 0

    def stream(self, op: str) -> Stream:
        label = f"select/{op}/{self.count}"
        self.count += 1
        return Stream(self.seed, label)


def select(
    b: Bound,
    pop: list[int],
    scores: dict[int, int],
    req: Request,
    seed: bytes,
    limit: int | None = None,
) -> list[int]:
    """The failover order of the surviving routes `pop` (ranks), best first.

    With `limit`, only the first `limit` routes of that order (rule 3).
    """
    cap = len(pop) if limit is None else limit
    return _select(b.policy.select, b, pop, scores, req, _Draws(seed), cap)


def _argmax(pop: list[int], scores: dict[int, int], limit: int) -> list[int]:
    keyed = zip(map(neg, map(scores.__getitem__, pop)), pop, strict=True)  # (−score, rank)
    return [i for _, i in _smallest(limit, keyed)]


def _smallest(limit: int, keyed: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The `limit` smallest (key, rank) pairs, ascending: `sorted(keyed)[:limit]`.

    Ranks (for `sample`, positions) are distinct, so the order is total. A decision's limit is its
    `max_attempts`: a heap of that size costs O(N log limit), not a full sort.
    """
    return heapq.nsmallest(limit, keyed) if limit <= _PARTIAL_MAX else sorted(keyed)[:limit]


def _select(
    term: Term,
    b: Bound,
    pop: list[int],
    scores: dict[int, int],
    req: Request,
    draws: _Draws,
    limit: int,
) -> list[int]:
    op = term[0]
    if op == "argmax":
        return _argmax(pop, scores, limit)
    if op == "chain":
        where = {(b.routes[i].provider, b.routes[i].model): i for i in pop}
        return [where[(p, m)] for p, m in term[1] if (p, m) in where][:limit]
    if op in ("greybox", "stock"):
        position = attrgetter("greybox_image" if req.needs_image else "greybox_text")
        keys = map(position, map(b.routes.__getitem__, pop))
        keyed = [(k, i) for k, i in zip(keys, pop, strict=True) if k is not None]
        if op == "stock" and not keyed:
            # No survivor has a chain position for this class: the newer line's
            # default order, so the fallback never plans nothing while a route is left.
            keyed = [(-(b.routes[i].priority or 0), i) for i in pop]
        return [i for _, i in _smallest(limit, keyed)]
    if op == "top_k":
        return _select(term[2], b, pop, scores, req, draws, min(term[1], limit))
    if op == "tiers":
        placed: set[int] = set()
        order: list[int] = []
        for pred, inner in term[1]:
            members = predicate(pred, b)([i for i in pop if i not in placed], req)
            # A full order still runs the later tiers (limit 0): their scorers
            # raise as before and their selectors keep their numbers (rules 2, 3).
            got = _select(inner, b, members, scores, req, draws, limit - len(order))
            # Only what the tier's selector placed is taken: the members it cut
            # (a chain that omits them, top_k past k, …) stay for later tiers.
            placed.update(got)
            order.extend(got)
        return order
    if op == "weighted":
        weights = score(term[1], b, pop, req)
        return _weighted(weights, pop, draws.stream("weighted"), limit)
    ranked = _argmax(pop, scores, limit + term[1])  # "sample"
    return _sample(term[1], ranked, draws.stream("sample"), limit)


def _weighted(weights: list[int], pop: list[int], stream: Stream, limit: int) -> list[int]:
    """Draw without replacement, chance proportional to weight; weight ≤ 0 is left out.

    The first `limit` picks of §8.3's walk. A Fenwick tree over the weights in
    rank order finds each pick in O(log N): the first position whose prefix sum
    exceeds `r` is the route the walk stops at, and a picked route's weight
    becomes 0, which is the walk over the routes that remain.
    """
    ranks = [i for i, w in zip(pop, weights, strict=True) if w > 0]
    positive = [w for w in weights if w > 0]
    n = len(ranks)
    prefix = [0, *accumulate(positive)]
    total = prefix[-1]
    if total > MAX:
        # Positive weights: every partial sum is at most `total`, so only then can
        # the checked sum raise; it runs to raise at the first partial sum, as specified.
        total = 0
        for w in positive:
            total = add(total, w)
    if min(limit, n) == 0:
        return []
    # tree[j] (1-based) sums the weights of positions j − (j & −j) + 1 … j, and
    # j − (j & −j) is j & (j − 1); each is a part of `total`, so within MAX.
    tree = [prefix[j] - prefix[j & (j - 1)] for j in range(n + 1)]
    top = 1
    while top * 2 <= n:
        top *= 2
    order: list[int] = []
    for _ in range(min(limit, n)):
        r = stream.below(total)
        at, step = 0, top
        while step:
            if at + step <= n and tree[at + step] <= r:
                at += step
                r -= tree[at]
            step >>= 1
        # The first `at` positions sum to at most the draw, one more exceeds it:
        # that route (0-based index `at`) is the pick.
        i, w = ranks[at], positive[at]
        order.append(i)
        total -= w
        j = at + 1
        while j <= n:
            tree[j] -= w
            j += j & -j
    return order


def _sample(spread: int, ranked: list[int], stream: Stream, limit: int) -> list[int]:
    """Perturb each position by a draw in `0 … spread`, re-sort by (key, position).

    `ranked` is argmax's first `limit + spread` routes: a later position's key
    is at least `limit + spread`, above every key of the first `limit`
    positions, so it cannot reach the first `limit` places; drawing in position
    order takes the same prefix of the stream as the full order does.
    """
    if limit == 0:
        return []
    if spread == 0:
        return ranked
    keyed = [(p + stream.below(spread + 1), p) for p in range(len(ranked))]
    return [ranked[p] for _, p in _smallest(limit, keyed)]
