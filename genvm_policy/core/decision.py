"""The decision: one pure function from (catalog, policy, request, seed) to a record.

Spec: docs/SPEC.md §9 (Decision).

Rules:
1. `decide` binds the policy to the catalog, filters, scores the survivors
   and selects the failover order, keeping its first `max_attempts` routes.
   Nothing else is read: no clock, no host order.
2. An attempt's parameters are not part of the decision: `attempt_params(d, a)`
   computes those of attempt `a` on demand, a pure function of (catalog,
   policy, request, seed, a). The cascade pays only for the calls it makes.
3. The record's canonical value (`decision_value`) holds what an auditor needs
   to replay the call and nothing it can recompute: the identities of the
   catalog, the policy, the request and the seed commitment, the cap on
   attempts, and the ordered routes `[provider, model]`. Its identity is
   `identity("decision", decision_value(d))`: about 600 bytes, so the node
   hashes a few blocks per call, never a block per parameter.
4. Rejections (with the first failing predicate), every survivor's score and
   every planned attempt's parameters are in `decision_report`, not in the
   identity: `replay` recomputes them. `decide` keeps rejections and scores
   by rank and names their routes only when they are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genvm_policy.core.catalog import Catalog, catalog_identity
from genvm_policy.core.identity import identity
from genvm_policy.core.interpreter import Bound, bind, score
from genvm_policy.core.mutate import Params, mutate
from genvm_policy.core.policy import Policy, Term, policy_identity
from genvm_policy.core.predicate import filter_routes
from genvm_policy.core.prng import seed_commitment
from genvm_policy.core.request import Request, request_identity
from genvm_policy.core.selection import select

__all__ = [
    "Attempt",
    "Decision",
    "attempt",
    "attempt_params",
    "decide",
    "decision_report",
    "decision_value",
]


@dataclass(frozen=True)
class Attempt:
    """One planned provider call: the route and its exact parameters."""

    provider: str
    model: str
    family: str
    params: Params


@dataclass(frozen=True)
class Decision:
    """The immutable result of `decide` (§9).

    `routes` is the failover order `(provider, model, family)`, at most
    `max_attempts` long; `ranks` are the same routes as ranks of the bound
    catalog. The filter's rejections and the survivors' scores are kept as
    ranks (`failed`, `survivors` and `values`, in rank order) and named on
    demand by `rejected` and `scores` (rule 4). `bound`, `request` and `seed`
    are kept to compute parameters on demand (rule 2) and take no part in
    equality.
    """

    routes: tuple[tuple[str, str, str], ...]
    on_failure: tuple[tuple[str, Term], ...]
    max_attempts: int
    catalog_id: str
    policy_id: str
    request_id: str
    seed_id: str
    identity: str
    ranks: tuple[int, ...] = field(repr=False)
    failed: tuple[tuple[int, Term], ...] = field(repr=False)
    survivors: tuple[int, ...] = field(repr=False)
    values: tuple[int, ...] = field(repr=False)
    bound: Bound = field(repr=False, compare=False)
    request: Request = field(repr=False, compare=False)
    seed: bytes = field(repr=False, compare=False)

    @property
    def rejected(self) -> tuple[tuple[str, str, Term], ...]:
        """Every rejected route as `(provider, model, first failing predicate)`, in rank order."""
        at = self.bound.routes
        return tuple((at[i].provider, at[i].model, reason) for i, reason in self.failed)

    @property
    def scores(self) -> tuple[tuple[str, str, int], ...]:
        """Every survivor as `(provider, model, score)`, in rank order."""
        at = self.bound.routes
        return tuple(
            (at[i].provider, at[i].model, v)
            for i, v in zip(self.survivors, self.values, strict=True)
        )

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """Every planned attempt with its parameters (tooling; the node uses `attempt`)."""
        return tuple(attempt(self, a) for a in range(len(self.routes)))


def decide(
    catalog: Catalog,
    policy: Policy,
    request: Request,
    seed: bytes,
    *,
    catalog_id: str | None = None,
    bound: Bound | None = None,
) -> Decision:
    """Decide one call (rule 1). `catalog_id` may pass a precomputed catalog identity.

    `bound` may pass `bind(catalog, policy)` made beforehand, so a tool deciding
    many requests for one catalog and policy binds once; the decision is the
    one `decide` makes without it. It must come from this catalog and policy
    (`ValueError` when it was bound to another policy).

    Raises `PRNG_KEY` for a seed outside 1 … 64 bytes, `NUM_RANGE` for a route
    value outside the language's field bounds, and `POL_FIELD`/`POL_TIER` when
    the policy names what this catalog lacks (admit it against the catalog).
    """
    seed_id = seed_commitment(seed)
    if bound is None:
        bound = bind(catalog, policy)
    elif bound.policy is not policy:
        raise ValueError("`bound` was bound to another policy than `policy`")
    survivors, rejected = filter_routes(bound, request)
    values = score(policy.score, bound, survivors, request)
    by_rank = dict(zip(survivors, values, strict=True))
    order = tuple(select(bound, survivors, by_rank, request, seed, policy.max_attempts))
    routes = tuple((r.provider, r.model, r.family) for r in map(bound.routes.__getitem__, order))
    ids = {
        "catalog": catalog_id or catalog_identity(catalog),
        "policy": policy_identity(policy),
        "request": request_identity(request),
        "seed": seed_id,
    }
    return Decision(
        routes=routes,
        on_failure=policy.on_failure,
        max_attempts=policy.max_attempts,
        catalog_id=ids["catalog"],
        policy_id=ids["policy"],
        request_id=ids["request"],
        seed_id=seed_id,
        identity=identity("decision", _record(ids, policy.max_attempts, routes)),
        ranks=order,
        failed=tuple(rejected),
        survivors=tuple(survivors),
        values=tuple(values),
        bound=bound,
        request=request,
        seed=seed,
    )


def attempt_params(d: Decision, a: int) -> Params:
    """The parameters of attempt `a` (0-based, below `len(d.routes)`) (rule 2)."""
    return mutate(d.bound, d.ranks[a], a, d.request, d.seed)


def attempt(d: Decision, a: int) -> Attempt:
    """Attempt `a` with its route and its parameters, as the cascade calls it."""
    provider, model, family = d.routes[a]
    return Attempt(provider, model, family, attempt_params(d, a))


def _record(
    ids: dict[str, str], cap: int, routes: tuple[tuple[str, str, str], ...]
) -> dict[str, Any]:
    return {
        "version": 1,
        "identities": ids,
        "max_attempts": cap,
        "routes": [[provider, model] for provider, model, _ in routes],
    }


def decision_value(d: Decision) -> dict[str, Any]:
    """The canonical value the decision identity covers (rule 3)."""
    ids = {
        "catalog": d.catalog_id,
        "policy": d.policy_id,
        "request": d.request_id,
        "seed": d.seed_id,
    }
    return _record(ids, d.max_attempts, d.routes)


def decision_report(d: Decision) -> dict[str, Any]:
    """Everything `decide` found (rule 4), as the `decide --json` contract prints it."""
    value = decision_value(d)
    value["identities"] = {**value["identities"], "decision": d.identity}
    value["attempts"] = [
        {"provider": a.provider, "model": a.model, "family": a.family, "params": a.params.value()}
        for a in d.attempts
    ]
    value["rejected"] = [{"provider": p, "model": m, "reason": r} for p, m, r in d.rejected]
    value["scores"] = [{"provider": p, "model": m, "score": s} for p, m, s in d.scores]
    value["on_failure"] = dict(d.on_failure)
    return value
