"""The interpreter: bind, filter, score and mutate over a bound catalog.

Spec: docs/SPEC.md §8 (Interpreter): binding, §8.1, §8.2 and §8.4. Select
(§8.3) is its own module, `genvm_policy.selection`, which calls `holds` and
`score` from here.

Rules:
1. Routes are ranked once by (provider bytes, model bytes); that rank is the
   tie-break of every order, so no order depends on input order, hash order
   or sort stability.
2. Filter (§8.1): a route survives when the filter holds; a rejected route's
   reason is the first child of the top-level `all` that fails (or the whole
   filter when it is not an `all`). A missing field value fails every
   comparison.
3. Score (§8.2): scorers are evaluated over the whole surviving population at
   once with checked integer arithmetic; `normalize` maps `v` to
   `(v − lo) × R // (hi − lo)` over the population's `[lo, hi]`, and to `R`
   when `hi = lo` (one route, or all equal).
4. Mutate (§8.4) runs per attempt `a` (0-based) with the route in scope;
   every jitter of attempt `a` draws from `mutate/jitter/<a>`; the provider
   seed of attempt `a` is the `a`-th `u53()` of the stream `attempt/seed`,
   read straight from block `a // 4`, so attempt `a` costs the same whether
   or not the attempts before it were computed.
5. `bind` checks the policy against the catalog before anything runs: every
   field a term names is declared (`POL_FIELD`), every constant compared with
   or defaulting a field is exact at its scale (`NUM_INEXACT`, `NUM_RANGE`),
   every `tier_at_least` tier is declared (`POL_TIER`). Terms are visited in
   pre-order (filter, score, select, then each mutation; arguments left to
   right); the first failure is raised at its path in the policy value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import eq, ge, gt, le, lt
from typing import Any

from genvm_policy.admission_terms import decimal_units
from genvm_policy.catalog import Catalog, Route
from genvm_policy.errors import Path, PolicyError
from genvm_policy.numeric import MAX, add, floordiv, mul, neg, sub
from genvm_policy.policy import BUILTIN_FIELDS, OPS, PARAMS, Policy, Term
from genvm_policy.prng import Stream, stream_block
from genvm_policy.request import Request

__all__ = [
    "Bound",
    "Params",
    "bind",
    "filter_routes",
    "holds",
    "mutate",
    "predicate",
    "provider_seed",
    "score",
]

Pred = Callable[[int, Request], bool]
"""A compiled predicate: does it hold for (route rank, request)."""

COMPARE: dict[str, Callable[[int, int], bool]] = {"lt": lt, "le": le, "eq": eq, "ge": ge, "gt": gt}


@dataclass(frozen=True)
class Bound:
    """A policy bound to one catalog: routes in rank order and their field values."""

    policy: Policy
    routes: tuple[Route, ...]
    values: tuple[dict[str, int | None], ...]
    scales: dict[str, int]
    tier_rank: dict[str, int]
    preds: dict[int, Pred] = field(default_factory=dict, compare=False, repr=False)


def bind(catalog: Catalog, policy: Policy) -> Bound:
    """Rank the catalog's routes (rule 1) and read their numeric fields once."""
    routes = tuple(sorted(catalog.routes, key=lambda r: (r.provider.encode(), r.model.encode())))
    scales = {name: decl[0] for name, decl in BUILTIN_FIELDS.items()}
    for decl in catalog.fields:
        scales[decl.name] = decl.scale
    _check_names(policy, scales, set(catalog.tiers))
    names = sorted(_fields_used(policy.value) & scales.keys())
    builtin = [name for name in names if name in BUILTIN_FIELDS]
    values = []
    for route in routes:
        own = dict(route.fields)
        row: dict[str, int | None] = {name: own.get(name) for name in names}
        for name in builtin:
            value = row[name] = getattr(route, name)
            if value is not None:
                _, lo, hi = BUILTIN_FIELDS[name]
                if not lo <= value <= hi:
                    raise PolicyError(
                        "NUM_RANGE",
                        ("routes", route.provider, route.model, name),
                        f"`{name}` is `{value}`, outside the policy language's {lo} … {hi}",
                        "see the field table of the spec, section 7",
                    )
        values.append(row)
    tiers = {name: i for i, name in enumerate(catalog.tiers)}
    return Bound(policy, routes, tuple(values), scales, tiers)


def _check_names(policy: Policy, scales: dict[str, int], tiers: set[str]) -> None:
    """Fail on the first field, tier or constant this catalog cannot serve (rule 5).

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
    return predicate(term, b)(i, req)


def predicate(term: Term, b: Bound) -> Pred:
    """`holds(term, b, i, req)` as `f(i, req)`, built once per term of `b.policy`."""
    fn = b.preds.get(id(term))
    if fn is None:
        fn = b.preds[id(term)] = _compile(term, b)
    return fn


def _compile(term: Term, b: Bound) -> Pred:
    """`term` as a function of (rank, request): the §8.1 predicate, its constants read once."""
    op, routes, values = term[0], b.routes, b.values
    if op in ("true", "false"):
        return lambda i, req: op == "true"
    if op == "needs":
        return lambda i, req: bool(
            (routes[i].json or not req.needs_json) and (routes[i].image or not req.needs_image)
        )
    if op in ("json", "image", "has_tee", "no_log"):
        flags = [bool(getattr(route, op)) for route in routes]
        return lambda i, req: flags[i]
    if op in ("provider_in", "model_in", "family_in"):
        names = set(term[1])
        attr = op[: -len("_in")]
        return lambda i, req: getattr(routes[i], attr) in names
    if op == "route_in":
        pairs = {(p, m) for p, m in term[1]}
        return lambda i, req: (routes[i].provider, routes[i].model) in pairs
    if op == "tier_at_least":
        rank = b.tier_rank
        if term[1] in rank and all(r.tier is None or r.tier in rank for r in routes):
            tiers = [r.tier is not None and rank[r.tier] >= rank[term[1]] for r in routes]
            return lambda i, req: tiers[i]  # every rank is known: nothing can raise
        return lambda i, req: _tier_at_least(b, routes[i].tier, term[1])
    if op == "has":
        return lambda i, req: values[i].get(term[1]) is not None
    if op in COMPARE:
        # `bind` proved the constant exact at the field's scale: this cannot raise.
        name, compare = term[1], COMPARE[op]
        const = decimal_units(term[2], b.scales[term[1]], ())
        return lambda i, req: (v := values[i].get(name)) is not None and compare(v, const)
    if op in ("format_in", "entry_in"):
        allowed, fact = set(term[1]), op[: -len("_in")]
        return lambda i, req: getattr(req, fact) in allowed
    if op == "has_images":
        return lambda i, req: req.images > 0
    kids = [_compile(t, b) for t in term[1:]]
    if op == "all":
        return lambda i, req: all(k(i, req) for k in kids)
    if op == "any":
        return lambda i, req: any(k(i, req) for k in kids)
    return lambda i, req: not kids[0](i, req)  # "not", the last predicate op


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
    """Split route ranks into survivors and (rejected, first failing predicate) (rule 2)."""
    top = b.policy.filter
    parts = top[1:] if top[0] == "all" else [top]
    checks = [(part, predicate(part, b)) for part in parts]
    survivors: list[int] = []
    rejected: list[tuple[int, Term]] = []
    for i in range(len(b.routes)):
        for part, fn in checks:
            if not fn(i, req):
                rejected.append((i, part))
                break
        else:
            survivors.append(i)
    return survivors, rejected


# -- score (§8.2) ------------------------------------------------------------
def score(term: Term, b: Bound, pop: list[int], req: Request) -> list[int]:
    """The value of scorer `term` for each route of `pop`, in `pop` order (rule 3)."""
    op = term[0]
    if op == "const":
        return [term[1]] * len(pop)
    if op == "field":
        default = decimal_units(term[2], b.scales[term[1]], ())
        rows = [b.values[i].get(term[1]) for i in pop]  # `bind` checked the name is declared
        return [default if value is None else value for value in rows]
    if op == "route_value":
        table: dict[tuple[str, str], int] = {(p, m): v for p, m, v in term[1]}
        fallback: int = term[2]
        return [table.get((b.routes[i].provider, b.routes[i].model), fallback) for i in pop]
    if op == "neg":
        inner = score(term[1], b, pop, req)
        return [-v for v in inner] if _fits(inner) else [neg(v) for v in inner]
    if op == "scale":
        inner, k, d = score(term[3], b, pop, req), term[1], term[2]
        if d != 0 and _fits(inner, [k, d]):
            products = [v * k for v in inner]
            if _fits(products):
                return [v // d for v in products]
        return [floordiv(mul(v, k), d) for v in inner]
    if op in ("sum", "min", "max"):
        columns = [score(t, b, pop, req) for t in term[1:]]
        out = columns[0]
        for col in columns[1:]:
            if op == "sum":
                sums = [x + y for x, y in zip(out, col, strict=True)]
                fast = _fits(out, col, sums)
                out = sums if fast else [add(x, y) for x, y in zip(out, col, strict=True)]
            else:
                pick = min if op == "min" else max
                out = [pick(x, y) for x, y in zip(out, col, strict=True)]
        return out
    if op == "gate":
        inner = score(term[2], b, pop, req)
        gate = predicate(term[1], b)
        return [v if gate(i, req) else 0 for i, v in zip(pop, inner, strict=True)]
    inner = score(term[2], b, pop, req)  # "normalize", the last scorer op
    if not inner:
        return []
    lo, hi = min(inner), max(inner)
    if hi == lo:
        return [term[1]] * len(inner)
    r, span = term[1], hi - lo
    if _fits(inner, [r, span, span * r]):
        # |(v − lo) · R| ≤ |(hi − lo) · R| ≤ MAX: no step below can leave the range.
        return [(v - lo) * r // span for v in inner]
    return [floordiv(mul(sub(v, lo), r), sub(hi, lo)) for v in inner]


def _fits(*columns: list[int]) -> bool:
    """Whether every value of `columns` lies within ±MAX (SPEC §8.2, checked per column).

    Then the checked form of an operation cannot raise; else it reruns and raises as specified.
    """
    return all(not col or (-MAX <= min(col) and max(col) <= MAX) for col in columns)


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


def provider_seed(seed: bytes, attempt: int) -> int:
    """The `attempt`-th `u53()` of the stream `attempt/seed` (rule 4): four per block."""
    block = stream_block(seed, "attempt/seed", attempt // 4)
    at = attempt % 4 * 8
    return int.from_bytes(block[at : at + 8], "big") >> 11


def mutate(b: Bound, i: int, attempt: int, req: Request, seed: bytes) -> Params:
    """Apply the mutate slot for attempt `attempt` on route `i` (rule 4).

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
            # One stream per attempt, opened on first use: the attempt's jitters
            # share its blocks in the order they apply.
            param = term[1]
            if "jitter" not in streams:
                streams["jitter"] = Stream(seed, f"mutate/jitter/{attempt}")
            step = term[2] + streams["jitter"].below(term[3] - term[2] + 1)
            _, lo, hi = PARAMS[param]
            state[param] = max(lo, min(hi, state[param] + step))
        elif op == "text_filters":
            state["text_filters"] = tuple(term[1])
        elif op == "use_max_completion_tokens":
            state["use_max_completion_tokens"] = bool(b.routes[i].max_completion_tokens)
        elif holds(term[1], b, i, req):  # "when"
            _apply(list(term[2:]), b, i, attempt, req, seed, state, streams)
