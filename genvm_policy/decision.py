"""The decision: one pure function from (catalog, policy, request, seed) to a record.

Spec: docs/SPEC.md §9 (Decision).

Rules:
1. `decide` binds the policy to the catalog, filters, scores the survivors,
   selects the failover order and mutates the first `max_attempts` routes of
   it, attempt by attempt. Nothing else is read: no clock, no host order.
2. The record's canonical value (`decision_value`) holds what an auditor needs
   to replay the call and nothing it can recompute: the identities of the
   catalog, the policy, the request and the seed commitment, the cap on
   attempts, and the ordered attempts (provider, model, family, params). Its
   identity is `identity("decision", decision_value(d))`.
3. Rejections (with the first failing predicate) and every survivor's score
   are part of the `Decision` and of `decision_report`, but not of the
   identity: `replay` recomputes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genvm_policy.catalog import Catalog, catalog_identity
from genvm_policy.identity import identity
from genvm_policy.interpreter import Params, bind, filter_routes, mutate, score, select
from genvm_policy.policy import Policy, Term, policy_identity
from genvm_policy.prng import Stream, seed_commitment
from genvm_policy.request import Request, request_identity

__all__ = ["Attempt", "Decision", "decide", "decision_report", "decision_value"]


@dataclass(frozen=True)
class Attempt:
    """One planned provider call: the route and its exact parameters."""

    provider: str
    model: str
    family: str
    params: Params


@dataclass(frozen=True)
class Decision:
    """The immutable result of `decide` (§9)."""

    attempts: tuple[Attempt, ...]
    rejected: tuple[tuple[str, str, Term], ...]
    scores: tuple[tuple[str, str, int], ...]
    on_failure: tuple[tuple[str, Term], ...]
    max_attempts: int
    catalog_id: str
    policy_id: str
    request_id: str
    seed_id: str
    identity: str


def decide(
    catalog: Catalog,
    policy: Policy,
    request: Request,
    seed: bytes,
    *,
    catalog_id: str | None = None,
) -> Decision:
    """Decide one call (rule 1). `catalog_id` may pass a precomputed catalog identity.

    Raises `PRNG_KEY` for a seed outside 1 … 64 bytes, `NUM_RANGE` for a route
    value outside the language's field bounds, and `POL_FIELD`/`POL_TIER` when
    the policy names what this catalog lacks (admit it against the catalog).
    """
    seed_id = seed_commitment(seed)
    bound = bind(catalog, policy)
    survivors, rejected = filter_routes(bound, request)
    values = score(policy.score, bound, survivors, request)
    by_rank = dict(zip(survivors, values, strict=True))
    order = select(bound, survivors, by_rank, request, seed)
    seeds = Stream(seed, "attempt/seed")
    attempts = []
    for n, i in enumerate(order[: policy.max_attempts]):
        route = bound.routes[i]
        params = mutate(bound, i, n, request, seed, seeds)
        attempts.append(Attempt(route.provider, route.model, route.family, params))
    ids = {
        "catalog": catalog_id or catalog_identity(catalog),
        "policy": policy_identity(policy),
        "request": request_identity(request),
        "seed": seed_id,
    }
    record = _record(ids, policy.max_attempts, attempts)
    return Decision(
        attempts=tuple(attempts),
        rejected=tuple(
            (bound.routes[i].provider, bound.routes[i].model, reason) for i, reason in rejected
        ),
        scores=tuple(
            (bound.routes[i].provider, bound.routes[i].model, v)
            for i, v in zip(survivors, values, strict=True)
        ),
        on_failure=policy.on_failure,
        max_attempts=policy.max_attempts,
        catalog_id=ids["catalog"],
        policy_id=ids["policy"],
        request_id=ids["request"],
        seed_id=seed_id,
        identity=identity("decision", record),
    )


def _record(ids: dict[str, str], cap: int, attempts: list[Attempt]) -> dict[str, Any]:
    return {
        "version": 1,
        "identities": ids,
        "max_attempts": cap,
        "attempts": [
            {
                "provider": a.provider,
                "model": a.model,
                "family": a.family,
                "params": a.params.value(),
            }
            for a in attempts
        ],
    }


def decision_value(d: Decision) -> dict[str, Any]:
    """The canonical value the decision identity covers (rule 2)."""
    ids = {
        "catalog": d.catalog_id,
        "policy": d.policy_id,
        "request": d.request_id,
        "seed": d.seed_id,
    }
    return _record(ids, d.max_attempts, list(d.attempts))


def decision_report(d: Decision) -> dict[str, Any]:
    """Everything `decide` found (rule 3), as the `decide --json` contract prints it."""
    value = decision_value(d)
    value["identities"] = {**value["identities"], "decision": d.identity}
    value["rejected"] = [{"provider": p, "model": m, "reason": r} for p, m, r in d.rejected]
    value["scores"] = [{"provider": p, "model": m, "score": s} for p, m, s in d.scores]
    value["on_failure"] = dict(d.on_failure)
    return value
