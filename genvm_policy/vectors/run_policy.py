"""The reference runners of the policy vector kinds, SPEC §5.5 to §10.

Spec: docs/VECTORS.md §6.8 to §6.17 (one subsection per kind). Shell module
of the vector machinery: it reads case inputs and calls the core.

Rules:
1. Inputs are canonical values, so the Lua runner needs no admission: a
   catalog is a canonical catalog value (SPEC §5.5), a policy a canonical
   policy value (§7.3), a request a canonical request map (§6). Only the
   `admission` kind reads authored documents (§7.4, the reference alone).
2. A catalog is read by `catalog.catalog_from_value`, which makes, in the same
   order and with the same `CAT_TYPE` paths, the checks the Lua runtime makes
   when it decodes the catalog of a compiled policy (first wrong item in value
   order).
3. The term kinds (`predicate`, `scorer`, `selector`, `mutate`) put their
   terms into the policy `wrap` builds: the given slots, `["true"]`,
   `["const", 0]`, `["argmax"]` and `[]` for the others, the default failure
   plan and 16 attempts. The Lua runner builds the same value.
4. Routes appear as `[provider, model]` in the order the code under test
   gives them; nothing is re-sorted here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genvm_policy.authoring.admission import DEFAULT_PLAN, admit
from genvm_policy.core import catalog as catalog_mod
from genvm_policy.core.cascade import Failure, Success
from genvm_policy.core.cascade import run as run_cascade
from genvm_policy.core.catalog import Catalog, catalog_from_value
from genvm_policy.core.decision import decide, decision_report
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.identity import identity
from genvm_policy.core.interpreter import bind, score
from genvm_policy.core.mutate import mutate
from genvm_policy.core.policy import (
    VERSION,
    Policy,
    policy_from_value,
    policy_identity,
    policy_value,
)
from genvm_policy.core.predicate import filter_routes
from genvm_policy.core.request import LIMITS, Request, make_request, request_identity, request_value
from genvm_policy.core.selection import select
from genvm_policy.vectors.escapes import Runner, bad, field, host

__all__ = ["POLICY_RUNNERS", "read_request", "wrap"]


def read_request(v: object) -> Request:
    """The request of a canonical request map, defaults filled as the Lua runtime fills them."""
    if not isinstance(v, dict):
        raise PolicyError("REQ_FIELD", (), "a request must be a map of fields")
    known = ("entry", "format", "role", *LIMITS)
    unknown = sorted((k for k in v if k not in known), key=lambda k: str(k).encode())
    if unknown:
        raise PolicyError("REQ_FIELD", (str(unknown[0]),), f"unknown request field `{unknown[0]}`")
    for name in ("entry", "format", "role"):
        if v.get(name) is not None and not isinstance(v[name], str):
            raise PolicyError("REQ_FIELD", (name,), f"`{name}` must be text")
    return make_request(
        entry="prompt" if v.get("entry") is None else v["entry"],
        format=v.get("format"),
        images=0 if v.get("images") is None else v["images"],
        prompt_bytes=0 if v.get("prompt_bytes") is None else v["prompt_bytes"],
        temperature=v.get("temperature"),
        max_tokens=v.get("max_tokens"),
        role="unknown" if v.get("role") is None else v["role"],
    )


def wrap(
    filter: Any = None, score: Any = None, select: Any = None, mutate: Any = None
) -> dict[str, Any]:
    """The canonical policy value the term kinds run their terms in (rule 3)."""
    return {
        "version": VERSION,
        "filter": ["true"] if filter is None else filter,
        "score": ["const", 0] if score is None else score,
        "select": ["argmax"] if select is None else select,
        "mutate": [] if mutate is None else mutate,
        "on_failure": {name: [action] for name, action in DEFAULT_PLAN.items()},
        "max_attempts": 16,
    }


def _setup(data: dict[str, Any], policy: dict[str, Any]) -> tuple[Catalog, Policy, Request]:
    return (
        catalog_from_value(field(data, "catalog")),
        policy_from_value(policy),
        read_request(field(data, "request")),
    )


def _pair(route: Any) -> list[str]:
    return [route.provider, route.model]


# -- runners, one per kind ------------------------------------------------------------


def run_view(data: dict[str, Any]) -> Any:
    """`{providers}` (host): the GenVM view of a `__llm.providers` rendering and its identity."""
    view = catalog_mod.view_from_providers(host(field(data, "providers")))
    return {"view": view, "identity": identity("genvm-view", view)}


def run_catalog(data: dict[str, Any]) -> Any:
    """`{catalog}`: the catalog and GenVM view identities; `{providers}`: `run_view`."""
    if "providers" in data:
        return run_view(data)
    c = catalog_from_value(field(data, "catalog"))
    return {
        "identity": catalog_mod.catalog_identity(c),
        "view_identity": catalog_mod.view_identity(c),
        "routes": len(c.routes),
    }


def run_request(data: dict[str, Any]) -> Any:
    """`{request}`: the canonical request with defaults filled, and its identity."""
    r = read_request(host(field(data, "request")))
    return {"value": request_value(r), "identity": request_identity(r)}


def run_predicate(data: dict[str, Any]) -> Any:
    """`{catalog, request, filter}`: survivors and each rejected route's first failing part."""
    c, p, r = _setup(data, wrap(filter=field(data, "filter")))
    b = bind(c, p)
    survivors, rejected = filter_routes(b, r)
    return {
        "survivors": [_pair(b.routes[i]) for i in survivors],
        "rejected": [[*_pair(b.routes[i]), reason] for i, reason in rejected],
    }


def run_scorer(data: dict[str, Any]) -> Any:
    """`{catalog, request, filter, score}`: `[provider, model, score]` of every survivor."""
    c, p, r = _setup(data, wrap(filter=field(data, "filter"), score=field(data, "score")))
    b = bind(c, p)
    survivors, _ = filter_routes(b, r)
    values = score(p.score, b, survivors, r)
    return [[*_pair(b.routes[i]), v] for i, v in zip(survivors, values, strict=True)]


def run_selector(data: dict[str, Any]) -> Any:
    """`{catalog, request, filter, score, select, seed}`: the whole failover order."""
    policy = wrap(field(data, "filter"), field(data, "score"), field(data, "select"))
    c, p, r = _setup(data, policy)
    b = bind(c, p)
    survivors, _ = filter_routes(b, r)
    by_rank = dict(zip(survivors, score(p.score, b, survivors, r), strict=True))
    return [_pair(b.routes[i]) for i in select(b, survivors, by_rank, r, field(data, "seed"))]


def run_mutate(data: dict[str, Any]) -> Any:
    """`{catalog, request, mutate, seed, attempts: [[provider, model, a]…]}`: each one's params."""
    c, p, r = _setup(data, wrap(mutate=field(data, "mutate")))
    b = bind(c, p)
    ranks = {(route.provider, route.model): i for i, route in enumerate(b.routes)}
    out = []
    for provider, model, a in field(data, "attempts"):
        if (provider, model) not in ranks:
            raise bad(("attempts",), f"no route `{provider}/{model}`")
        out.append(mutate(b, ranks[(provider, model)], a, r, field(data, "seed")).value())
    return out


SCRIPT_STEP = {"kind", "status", "code", "retry_after_ms"}


def _outcome(step: Any) -> Success | Failure:
    if step == "ok":
        return Success(None)
    if isinstance(step, Mapping) and set(step) <= SCRIPT_STEP and "kind" in step:
        return Failure(
            step["kind"], host(step.get("status")), step.get("code"), step.get("retry_after_ms")
        )
    raise bad(("script",), "a script step is `ok` or `{kind, status?, code?, retry_after_ms?}`")


def run_cascade_case(data: dict[str, Any]) -> Any:
    """`{catalog, policy, request, seed, script}`: the calls made and the final outcome."""
    c, p, r = _setup(data, field(data, "policy"))
    d = decide(c, p, r, field(data, "seed"))
    script = [_outcome(step) for step in field(data, "script")]
    calls: list[Any] = []
    waits: list[int] = []

    def call(a: Any) -> Success | Failure:
        if len(calls) >= len(script):
            raise bad(("script",), "the cascade called past the end of the script")
        calls.append([a.provider, a.model, a.params.seed])
        result = script[len(calls) - 1]
        return Success(len(calls) - 1) if isinstance(result, Success) else result

    outcome = run_cascade(d, call, waits.append)
    return {
        "ok": outcome.ok,
        "data": outcome.data,
        "error_class": outcome.error_class,
        "code": outcome.code,
        "trace": [[s.attempt, s.provider, s.model, s.result, s.action] for s in outcome.trace],
        "calls": calls,
        "waits": waits,
    }


def run_decision(data: dict[str, Any]) -> Any:
    """`{catalog, policy, request, seed}`: the decision report (record, identity, attempts)."""
    c, p, r = _setup(data, field(data, "policy"))
    d = decide(c, p, r, field(data, "seed"))
    return decision_report(d)


def run_admission(data: dict[str, Any]) -> Any:
    """`{policy, catalog?}`: admit an authored document; its normal form and identity."""
    raw = data.get("catalog")
    p = admit(host(field(data, "policy")), None if raw is None else catalog_from_value(raw))
    return {"value": policy_value(p), "identity": policy_identity(p)}


POLICY_RUNNERS: dict[str, Runner] = {
    "catalog": run_catalog,
    "request": run_request,
    "predicate": run_predicate,
    "scorer": run_scorer,
    "selector": run_selector,
    "mutate": run_mutate,
    "cascade": run_cascade_case,
    "decision": run_decision,
    "admission": run_admission,
}
"""The reference runner of each policy kind, by kind name."""
