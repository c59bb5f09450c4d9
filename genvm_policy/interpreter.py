"""The interpreter: filter, score, select and mutate over a bound catalog.

Spec: docs/SPEC.md §8 (Interpreter).

Rules:
1. Routes are ranked once by (provider bytes, model bytes); that rank is the
   tie-break of every order below, so no order depends on input order, hash
   order or sort stability.
2. Filter (§8.1): a route survives when the filter holds; a rejected route's
   reason is the first child of the top-level `all` that fails (or the whole
   filter when it is not an `all`). A missing field value fails every
   comparison.
3. Score (§8.2): scorers are evaluated over the whole surviving population at
   once with checked integer arithmetic; `normalize` maps `v` to
   `(v − lo) × R // (hi − lo)` over the population's `[lo, hi]`, and to `R`
   when `hi = lo` (one route, or all equal).
4. Select (§8.3) returns the whole failover order, or with a limit `L` its
   first `L` routes and nothing beyond. A limit stops only draws and picks:
   every tier and scorer still runs, so it raises what the whole order raises;
   `weighted` draws `min(L, routes with weight > 0)` times, `sample` only for
   the first `L + spread` positions. Random selectors draw from
   `select/<op>/<n>`, `n` counting the random selectors in the order they are
   evaluated (pre-order of the select term).
5. Mutate (§8.4) runs per attempt `a` (0-based) with the route in scope;
   jitter on parameter `p` draws from `mutate/jitter/<p>/<a>`; the provider
   seed of attempt `a` is the `a`-th `u53()` of the stream `attempt/seed`,
   read straight from block `a // 4`, so attempt `a` costs the same whether
   or not the attempts before it were computed.
6. `bind` checks the policy against the catalog before anything runs: every
   field a term names is declared (`POL_FIELD`), every constant compared with
   or defaulting a field is exact at its scale (`NUM_INEXACT`, `NUM_RANGE`),
   every `tier_at_least` tier is declared (`POL_TIER`). Terms are visited in
   pre-order (filter, score, select, then each mutation; arguments left to
   right); the first failure is raised at its path in the policy value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genvm_policy.admission import decimal_units
from genvm_policy.catalog import Catalog, Route
from genvm_policy.errors import Path, PolicyError
from genvm_policy.numeric import add, floordiv, mul, neg, sub
from genvm_policy.policy import BUILTIN_FIELDS, OPS, PARAMS, Policy, Term
from genvm_policy.prng import Stream, stream_block
from genvm_policy.request import Request

__all__ = [
    "Bound",
    "Params",
    "bind",
    "filter_routes",
    "mutate",
    "provider_seed",
    "score",
    "select",
]

COMPARE = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "ge": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
}


@dataclass(frozen=True)
class Bound:
    """A policy bound to one catalog: routes in rank order and their field values."""

    policy: Policy
    routes: tuple[Route, ...]
    values: tuple[dict[str, int | None], ...]
    scales: dict[str, int]
    tier_rank: dict[str, int]


def bind(catalog: Catalog, policy: Policy) -> Bound:
    """Rank the catalog's routes (rule 1) and read their numeric fields once."""
    routes = tuple(sorted(catalog.routes, key=lambda r: (r.provider.encode(), r.model.encode())))
    scales = {name: decl[0] for name, decl in BUILTIN_FIELDS.items()}
    for decl in catalog.fields:
        scales[decl.name] = decl.scale
    _check_names(policy, scales, set(catalog.tiers))
    used = _fields_used(policy.value)
    values = []
    for route in routes:
        own = dict(route.fields)
        row: dict[str, int | None] = {}
        for name in sorted(used & scales.keys()):
            value = getattr(route, name) if name in BUILTIN_FIELDS else own.get(name)
            if value is not None and name in BUILTIN_FIELDS and name in used:
                _, lo, hi = BUILTIN_FIELDS[name]
                if not lo <= value <= hi:
                    raise PolicyError(
                        "NUM_RANGE",
                        ("routes", route.provider, route.model, name),
                        f"`{name}` is `{value}`, outside the policy language's {lo} … {hi}",
                        "see the field table of the spec, section 7",
                    )
            row[name] = value
        values.append(row)
    tiers = {name: i for i, name in enumerate(catalog.tiers)}
    return Bound(policy, routes, tuple(values), scales, tiers)


def _check_names(policy: Policy, scales: dict[str, int], tiers: set[str]) -> None:
    """Fail on the first field, tier or constant this catalog cannot serve (rule 6).

    A policy admitted without its catalog may name what the decide-time catalog
    lacks; checking every term here, in one pinned order, gives both runtimes
    the same (code, path) whatever the population and the request.
    """
    slots: list[tuple[Path, Term]] = [
        (("filter",), policy.filter),
        (("score",), policy.score),
        (("select",), policy.select),
        *((("mutate", n), m) for n, m in enumerate(policy.mutate)),
    ]
    while slots:
        path, term = slots.pop(0)
        op = term[0]
        if op in ("has", "field", *COMPARE) and term[1] not in scales:
            raise PolicyError(
                "POL_FIELD",
                (*path, 1),
                f"the catalog declares no field `{term[1]}`",
                "declare the field in the overlay or admit the policy with its catalog",
            )
        if op in ("field", *COMPARE):
            decimal_units(term[2], scales[term[1]], (*path, 2))
        if op == "tier_at_least" and term[1] not in tiers:
            raise PolicyError(
                "POL_TIER",
                (*path, 1),
                f"the catalog declares no tier `{term[1]}`",
                "declare the tier in the overlay or admit the policy with its catalog",
            )
        slots[:0] = _subterms(term, path)


def _subterms(term: Term, path: Path) -> list[tuple[Path, Term]]:
    """The child terms of `term` with their paths, in argument order (pre-order walk)."""
    kinds = OPS[term[0]][1]
    out: list[tuple[Path, Term]] = []
    for n, arg in enumerate(term[1:], start=1):
        kind = kinds[min(n, len(kinds)) - 1].rstrip("*")
        if kind in ("P", "S", "L", "M"):
            out.append(((*path, n), arg))
        elif kind == "tiers":
            for j, (pred, inner) in enumerate(arg):
                out += [((*path, n, j, 0), pred), ((*path, n, j, 1), inner)]
    return out


def _fields_used(value: object) -> set[str]:
    """Names of the fields a policy reads; only those must lie in the language's bounds."""
    found: set[str] = set()
    if isinstance(value, dict):
        for item in value.values():
            found |= _fields_used(item)
    elif isinstance(value, list):
        if value and value[0] in ("field", "has", *COMPARE) and len(value) > 1:
            found.add(str(value[1]))
        for item in value:
            found |= _fields_used(item)
    return found


# -- filter (§8.1) -----------------------------------------------------------
def holds(term: Term, b: Bound, i: int, req: Request) -> bool:
    """Whether predicate `term` holds for route `i` under request `req`."""
    op = term[0]
    route = b.routes[i]
    if op in ("true", "false"):
        return bool(op == "true")
    if op == "needs":
        return (route.json or not req.needs_json) and (route.image or not req.needs_image)
    if op in ("json", "image", "has_tee", "no_log"):
        return bool(getattr(route, op))
    if op == "provider_in":
        return route.provider in term[1]
    if op == "model_in":
        return route.model in term[1]
    if op == "route_in":
        return [route.provider, route.model] in term[1]
    if op == "family_in":
        return route.family is not None and route.family in term[1]
    if op == "tier_at_least":
        return route.tier is not None and _tier(b, route.tier) >= _tier(b, term[1])
    if op == "has":
        return _field(b, i, term[1]) is not None
    if op in COMPARE:
        value = _field(b, i, term[1])
        return value is not None and COMPARE[op](value, _const(b, term))
    if op == "format_in":
        return req.format in term[1]
    if op == "entry_in":
        return req.entry in term[1]
    if op == "has_images":
        return req.images > 0
    if op == "all":
        return all(holds(t, b, i, req) for t in term[1:])
    if op == "any":
        return any(holds(t, b, i, req) for t in term[1:])
    return not holds(term[1], b, i, req)  # "not", the last predicate op


def _tier(b: Bound, name: str) -> int:
    if name not in b.tier_rank:
        raise PolicyError(
            "POL_TIER",
            (),
            f"the catalog declares no tier `{name}`",
            "declare the tier in the overlay or admit the policy with its catalog",
        )
    return b.tier_rank[name]


def _field(b: Bound, i: int, name: str) -> int | None:
    return b.values[i].get(name)  # `bind` checked that the catalog declares `name`


def _const(b: Bound, term: Term) -> int:
    return decimal_units(term[2], b.scales[term[1]], ())


def filter_routes(b: Bound, req: Request) -> tuple[list[int], list[tuple[int, Term]]]:
    """Split route ranks into survivors and (rejected, first failing predicate) (rule 2)."""
    top = b.policy.filter
    parts = top[1:] if top[0] == "all" else [top]
    survivors: list[int] = []
    rejected: list[tuple[int, Term]] = []
    for i in range(len(b.routes)):
        failing = next((p for p in parts if not holds(p, b, i, req)), None)
        if failing is None:
            survivors.append(i)
        else:
            rejected.append((i, failing))
    return survivors, rejected


# -- score (§8.2) ------------------------------------------------------------
def score(term: Term, b: Bound, pop: list[int], req: Request) -> list[int]:
    """The value of scorer `term` for each route of `pop`, in `pop` order (rule 3)."""
    op = term[0]
    if op == "const":
        return [term[1]] * len(pop)
    if op == "field":
        default = decimal_units(term[2], b.scales[term[1]], ())
        out = []
        for i in pop:
            value = _field(b, i, term[1])
            out.append(default if value is None else value)
        return out
    if op == "route_value":
        table: dict[tuple[str, str], int] = {(p, m): v for p, m, v in term[1]}
        fallback: int = term[2]
        return [table.get((b.routes[i].provider, b.routes[i].model), fallback) for i in pop]
    if op == "neg":
        return [neg(v) for v in score(term[1], b, pop, req)]
    if op == "scale":
        return [floordiv(mul(v, term[1]), term[2]) for v in score(term[3], b, pop, req)]
    if op in ("sum", "min", "max"):
        columns = [score(t, b, pop, req) for t in term[1:]]
        out = columns[0]
        for col in columns[1:]:
            if op == "sum":
                out = [add(x, y) for x, y in zip(out, col, strict=True)]
            else:
                pick = min if op == "min" else max
                out = [pick(x, y) for x, y in zip(out, col, strict=True)]
        return out
    if op == "gate":
        inner = score(term[2], b, pop, req)
        return [v if holds(term[1], b, i, req) else 0 for i, v in zip(pop, inner, strict=True)]
    inner = score(term[2], b, pop, req)  # "normalize", the last scorer op
    if not inner:
        return []
    lo, hi = min(inner), max(inner)
    if hi == lo:
        return [term[1]] * len(inner)
    return [floordiv(mul(sub(v, lo), term[1]), sub(hi, lo)) for v in inner]


# -- select (§8.3) -----------------------------------------------------------
class _Draws:
    """Numbers the random selectors in evaluation order (rule 4)."""

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

    With `limit`, only the first `limit` routes of that order (rule 4).
    """
    cap = len(pop) if limit is None else limit
    return _select(b.policy.select, b, pop, scores, req, _Draws(seed), cap)


def _argmax(pop: list[int], scores: dict[int, int]) -> list[int]:
    return sorted(pop, key=lambda i: (-scores[i], i))


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
        return _argmax(pop, scores)[:limit]
    if op == "chain":
        where = {(b.routes[i].provider, b.routes[i].model): i for i in pop}
        return [where[(p, m)] for p, m in term[1] if (p, m) in where][:limit]
    if op == "greybox":
        attr = "greybox_image" if req.needs_image else "greybox_text"
        keyed = [(getattr(b.routes[i], attr), i) for i in pop]
        return [i for key, i in sorted((k, i) for k, i in keyed if k is not None)][:limit]
    if op == "top_k":
        return _select(term[2], b, pop, scores, req, draws, min(term[1], limit))
    if op == "tiers":
        placed: set[int] = set()
        order: list[int] = []
        for pred, inner in term[1]:
            members = [i for i in pop if i not in placed and holds(pred, b, i, req)]
            placed.update(members)
            # A full order still runs the later tiers (limit 0): their scorers
            # raise as before and their selectors keep their numbers (rule 4).
            order.extend(_select(inner, b, members, scores, req, draws, limit - len(order)))
        return order
    if op == "weighted":
        weights = score(term[1], b, pop, req)
        return _weighted(weights, pop, draws.stream("weighted"), limit)
    ranked = _argmax(pop, scores)[: limit + term[1]]  # "sample"
    return _sample(term[1], ranked, draws.stream("sample"), limit)


def _weighted(weights: list[int], pop: list[int], stream: Stream, limit: int) -> list[int]:
    """Draw without replacement, chance proportional to weight; weight ≤ 0 is left out.

    The first `limit` picks of §8.3's walk. A Fenwick tree over the weights in
    rank order finds each pick in O(log N): the first position whose prefix sum
    exceeds `r` is the route the walk stops at, and a picked route's weight
    becomes 0, which is the walk over the routes that remain.
    """
    left = [(i, w) for i, w in zip(pop, weights, strict=True) if w > 0]
    n = len(left)
    # tree[j] (1-based) sums the weights of positions j − (j & −j) + 1 … j; each
    # is a part of `total`, so checking `total` keeps every sum within MAX.
    tree = [0] * (n + 1)
    total = 0
    for j, (_, w) in enumerate(left, 1):
        total = add(total, w)
        tree[j] += w
        if j + (j & -j) <= n:
            tree[j + (j & -j)] += tree[j]
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
        i, w = left[at]
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
    keyed = [(p + stream.below(spread + 1), p, i) for p, i in enumerate(ranked)]
    return [i for _, _, i in sorted(keyed)][:limit]


# -- mutate (§8.4) -----------------------------------------------------------
@dataclass(frozen=True)
class Params:
    """The exact parameters of one attempt; every number an integer."""

    temperature: int
    max_tokens: int
    seed: int
    use_max_completion_tokens: bool
    text_filters: tuple[str, ...]

    def value(self) -> dict[str, Any]:
        """The canonical map of these parameters (§9)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "use_max_completion_tokens": self.use_max_completion_tokens,
            "text_filters": list(self.text_filters),
        }


def mutate(b: Bound, i: int, attempt: int, req: Request, seed: bytes) -> Params:
    """Apply the mutate slot for attempt `attempt` on route `i` (rule 5).

    A pure function of its arguments: any attempt can be computed alone.
    """
    state: dict[str, Any] = {
        "temperature": req.temperature,
        "max_tokens": req.max_tokens,
        "use_max_completion_tokens": False,
        "text_filters": (),
    }
    streams: dict[str, Stream] = {}
    _apply(list(b.policy.mutate), b, i, attempt, req, seed, state, streams)
    return Params(
        state["temperature"],
        state["max_tokens"],
        provider_seed(seed, attempt),
        state["use_max_completion_tokens"],
        state["text_filters"],
    )


def provider_seed(seed: bytes, attempt: int) -> int:
    """The `attempt`-th `u53()` of the stream `attempt/seed` (rule 5): four per block."""
    block = stream_block(seed, "attempt/seed", attempt // 4)
    at = attempt % 4 * 8
    return int.from_bytes(block[at : at + 8], "big") >> 11


def _apply(
    terms: list[Term],
    b: Bound,
    i: int,
    attempt: int,
    req: Request,
    seed: bytes,
    state: dict[str, Any],
    streams: dict[str, Stream],
) -> None:
    for term in terms:
        op = term[0]
        if op == "set":
            state[term[1]] = term[2]
        elif op == "clamp":
            state[term[1]] = max(term[2], min(term[3], state[term[1]]))
        elif op == "jitter":
            param = term[1]
            if param not in streams:
                streams[param] = Stream(seed, f"mutate/jitter/{param}/{attempt}")
            step = term[2] + streams[param].below(term[3] - term[2] + 1)
            _, lo, hi = PARAMS[param]
            state[param] = max(lo, min(hi, state[param] + step))
        elif op == "text_filters":
            state["text_filters"] = tuple(term[1])
        elif op == "use_max_completion_tokens":
            state["use_max_completion_tokens"] = bool(b.routes[i].max_completion_tokens)
        elif holds(term[1], b, i, req):  # "when"
            _apply(list(term[2:]), b, i, attempt, req, seed, state, streams)
