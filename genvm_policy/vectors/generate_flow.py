"""The inputs of the mutate, cascade and decision vector kinds (SPEC §8.4 to §10).

Spec: docs/VECTORS.md §6.14 to §6.16. The rules of `generate.py` apply:
pure given the repository's `examples/`, deterministic, every bound at and
past its edge, results from the reference (`run_policy.py`).
"""

from __future__ import annotations

from typing import Any

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import BUILTINS
from genvm_policy.core.catalog import catalog_value
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.numeric import MAX
from genvm_policy.core.policy import CLASSES, policy_value
from genvm_policy.vectors.fixtures import (
    REQUESTS,
    bytes_catalog,
    default_catalog,
    example_catalog,
    example_policies,
    greybox_catalog,
    partial_catalog,
    priority_catalog,
    request,
    seed,
)
from genvm_policy.vectors.generate import FLOAT_503, Generated, f64
from genvm_policy.vectors.run_policy import wrap

__all__ = ["gen_cascade", "gen_decision", "gen_mutate"]

# -- §8.4 mutate -------------------------------------------------------------------------------

MUTATIONS: list[tuple[str, list[Any]]] = [
    ("none", []),
    ("set_temperature_0", [["set", "temperature", 0]]),
    ("set_temperature_2000", [["set", "temperature", 2000]]),
    ("set_max_tokens", [["set", "max_tokens", 4000]]),
    ("clamp_temperature", [["clamp", "temperature", 100, 500]]),
    ("clamp_max_tokens", [["clamp", "max_tokens", 1, 4000]]),
    ("jitter_temperature", [["jitter", "temperature", -100, 100]]),
    ("jitter_max_tokens", [["jitter", "max_tokens", -1000, 1000]]),
    ("jitter_floor", [["set", "temperature", 0], ["jitter", "temperature", -100, 0]]),
    ("jitter_ceiling", [["set", "temperature", 2000], ["jitter", "temperature", 0, 2000]]),
    ("jitter_max_tokens_floor", [["set", "max_tokens", 1], ["jitter", "max_tokens", -5, 5]]),
    (
        "jitter_max_tokens_top",
        [["set", "max_tokens", 2**32 - 1], ["jitter", "max_tokens", 0, 2**32 - 1]],
    ),
    ("jitter_twice", [["jitter", "temperature", -10, 10], ["jitter", "temperature", -10, 10]]),
    ("jitter_both", [["jitter", "max_tokens", -3, 3], ["jitter", "temperature", -3, 3]]),
    ("jitter_zero_span", [["jitter", "temperature", 5, 5]]),
    ("top_p_unset_clamp_jitter", [["clamp", "top_p", 100, 900], ["jitter", "top_p", -50, 50]]),
    ("top_p_set", [["set", "top_p", 900]]),
    ("top_p_set_jitter", [["set", "top_p", 1000], ["jitter", "top_p", -100, 100],
                          ["jitter", "temperature", -3, 3]]),
    ("jitter_all_three", [["set", "top_p", 0], ["jitter", "top_p", 0, 1000],
                          ["jitter", "max_tokens", -3, 3], ["jitter", "temperature", -3, 3]]),
    ("text_filters", [["text_filters", ["NFKC", "RmZeroWidth", "NormalizeWS"]]]),
    ("text_filters_last_wins", [["text_filters", ["NFC"]], ["text_filters", []]]),
    ("use_max_completion_tokens", [["use_max_completion_tokens"]]),
    ("when_image", [["when", ["image"], ["set", "temperature", 0], ["use_max_completion_tokens"]]]),
    ("when_json_request", [["when", ["format_in", ["json"]], ["clamp", "max_tokens", 1, 100]]]),
    ("when_nested", [["when", ["true"], ["when", ["no_log"], ["jitter", "temperature", -50, 50]]]]),
    (
        "stock",
        [["text_filters", ["NFKC", "RmZeroWidth", "NormalizeWS"]], ["use_max_completion_tokens"]],
    ),
]  # fmt: skip  # a table laid out by hand in rows

ATTEMPTS = [0, 1, 3, 4, 5, 15]  # 3 and 4 straddle the first `attempt/seed` block


def gen_mutate() -> Generated:
    """Parameters per attempt and route for every mutation op (§8.4)."""
    out: Generated = []
    example = catalog_value(example_catalog())
    routes = [
        ["router", "openai/gpt-4.1-mini"],
        ["anthropic", "claude-sonnet-4-20250514"],
        ["gateway", "meta-llama/llama-3.3-70b-instruct"],
    ]
    for mname, terms in MUTATIONS:
        for rname, req in (REQUESTS[0], REQUESTS[1], REQUESTS[5]):
            for n in (0, 1):
                attempts = [[*route, a] for route in routes for a in ATTEMPTS]
                out.append(
                    (
                        f"{mname}_{rname}_seed{n}",
                        f"`{mname}` for three routes, {rname}, seed {n}",
                        {
                            "catalog": example,
                            "request": req,
                            "mutate": terms,
                            "seed": seed(n),
                            "attempts": attempts,
                        },
                    )
                )
    bytes_value = catalog_value(bytes_catalog())
    out.append(
        (
            "bytes_routes",
            "the same attempt on non-ASCII routes",
            {
                "catalog": bytes_value,
                "request": request(),
                "seed": seed(3),
                "mutate": [["jitter", "temperature", -700, 700], ["use_max_completion_tokens"]],
                "attempts": [["é", "水", 0], ["𝄞", "z", 0], ["Zeta", "ß", 2]],
            },
        )
    )
    for n, size in ((1, 1), (64, 64), (65, 65), (0, 0)):
        out.append(
            (
                f"seed_{n}_bytes",
                f"a call key of {size} bytes",
                {
                    "catalog": example,
                    "request": request(),
                    "mutate": [["jitter", "temperature", -1, 1]],
                    "seed": bytes(range(size)),
                    "attempts": [["router", "openai/gpt-4.1-mini", 2]],
                },
            )
        )
    return out


# -- §10 cascade ------------------------------------------------------------------------------

FAILURES: list[tuple[str, Any]] = [
    ("s503", {"kind": "http", "status": 503}),
    ("s503_float", {"kind": "http", "status": f64(FLOAT_503)}),
    ("s429", {"kind": "http", "status": 429}),
    ("s408", {"kind": "http", "status": 408}),
    ("s504", {"kind": "http", "status": 504}),
    ("s529", {"kind": "http", "status": 529}),
    ("s401", {"kind": "http", "status": 401}),
    ("s403", {"kind": "http", "status": 403}),
    ("s400", {"kind": "http", "status": 400}),
    ("s404", {"kind": "http", "status": 404}),
    ("s413", {"kind": "http", "status": 413}),
    ("s500", {"kind": "http", "status": 500}),
    ("s599", {"kind": "http", "status": 599}),
    ("s418", {"kind": "http", "status": 418}),
    ("overflow_kind", {"kind": "context_overflow", "status": 503}),
    ("filter_kind", {"kind": "content_filter", "status": 200}),
    ("network", {"kind": "network"}),
    ("non_user", {"kind": "non_user"}),
    ("network_503", {"kind": "network", "status": 503}),
    ("unknown", {"kind": "weird"}),
    ("unreadable_500", {"kind": "READING_BODY", "status": 500}),
    ("unreadable_502", {"kind": "READING_BODY", "status": 502}),
    ("unreadable_429", {"kind": "READING_BODY", "status": 429}),
    ("unreadable_400", {"kind": "READING_BODY", "status": 400}),
    ("send_timeout", {"kind": "send_timeout"}),
    ("s400_context_code", {"kind": "http", "status": 400, "code": "context_length_exceeded"}),
    ("s400_long_string", {"kind": "http", "status": 400, "code": "string_above_max_length"}),
    ("s413_too_large", {"kind": "http", "status": 413, "code": "request_too_large"}),
    ("s400_filter_code", {"kind": "http", "status": 400, "code": "content_filter"}),
    ("s403_policy_code", {"kind": "http", "status": 403, "code": "content_policy_violation"}),
    ("s503_filter_code", {"kind": "http", "status": 503, "code": "content_filter"}),
    ("s429_other_code", {"kind": "http", "status": 429, "code": "rate_limit_exceeded"}),
    ("s429_after_100", {"kind": "http", "status": 429, "retry_after_ms": 100}),
    ("s503_after_1000", {"kind": "http", "status": 503, "retry_after_ms": 1000}),
    ("s500_after_0", {"kind": "http", "status": 500, "retry_after_ms": 0}),
]

PLANS: list[tuple[str, dict[str, Any], int]] = [
    ("default", {}, 16),
    ("all_next", {c: ["next"] for c in CLASSES}, 16),
    ("retry", {c: ["retry", 2, 250, ["next"]] for c in CLASSES}, 16),
    ("retry_abort", {c: ["retry", 5, 60000, ["abort"]] for c in CLASSES}, 16),
    ("skip", {c: ["skip_provider"] for c in CLASSES}, 16),
    ("same_family", {c: ["next_same_family"] for c in CLASSES}, 16),
    ("retry_same_family", {c: ["retry", 1, 0, ["next_same_family"]] for c in CLASSES}, 16),
    ("next_cap_3", {c: ["next"] for c in CLASSES}, 3),
    ("retry_cap_2", {c: ["retry", 5, 10, ["next"]] for c in CLASSES}, 2),
    ("cap_1", {c: ["next"] for c in CLASSES}, 1),
]


def _plan_policy(plan: dict[str, Any], cap: int, select: list[Any]) -> dict[str, Any]:
    value = wrap(filter=["needs"], score=["field", "quality", [0, 0]], select=select)
    value["on_failure"].update(plan)
    value["max_attempts"] = cap
    return value


def gen_cascade() -> Generated:
    """Scripted provider outcomes → the calls made and the final outcome (§10)."""
    out: Generated = []
    example = catalog_value(example_catalog())
    # Quality order: the two claude-sonnet-4 routes (one family) first, then gpt-4.1-mini.
    select = ["argmax"]
    for pname, plan, cap in PLANS:
        policy = _plan_policy(plan, cap, select)
        for fname, failure in FAILURES:
            scripts = [("always", [failure] * 32)]
            if pname in ("default", "retry", "skip"):
                scripts.insert(0, ("then_ok", [failure, "ok"]))
            for sname, script in scripts:
                out.append(
                    (
                        f"{pname}_{fname}_{sname}",
                        f"plan `{pname}`, {fname} {sname.replace('_', ' ')}",
                        {
                            "catalog": example,
                            "policy": policy,
                            "request": request(),
                            "seed": seed(0),
                            "script": script,
                        },
                    )
                )
    mixed = {
        "rate_limited": ["skip_provider"],
        "unavailable": ["next"],
        "timeout": ["retry", 1, 50, ["next"]],
        "auth": ["skip_provider"],
        "server": ["retry", 1, 100, ["next_same_family"]],
        "network": ["retry", 2, 5, ["skip_provider"]],
        "bad_request": ["abort"],
    }
    s = {k: v for k, v in FAILURES}
    scripts = [
        ("ok_first", ["ok"]),
        ("auth_skips_router", [s["s401"], s["s503"], "ok"]),
        ("server_then_family", [s["s500"], s["s500"], "ok"]),
        ("network_retries_then_skips", [s["network"]] * 3 + ["ok"]),
        (
            "mixed_to_exhaustion",
            [s["s429"], s["s500"], s["s599"], s["network"], s["network"], s["network"]]
            + [s["s503"]] * 10,
        ),
        ("abort_after_overload", [s["s503"], s["s400"]]),
        ("rate_limit_skips_router", [s["s429"], "ok"]),
        ("timeout_retries_once", [s["s504"], s["send_timeout"], s["s408"], "ok"]),
        ("retry_after_within_cap", [s["s500_after_0"], "ok"]),
        ("retry_after_over_cap", [{"kind": "http", "status": 500, "retry_after_ms": 101}, "ok"]),
    ]
    for sname, script in scripts:
        out.append(
            (
                f"mixed_{sname}",
                f"a mixed plan, script {sname.replace('_', ' ')}",
                {
                    "catalog": example,
                    "policy": _plan_policy(mixed, 16, select),
                    "request": request(),
                    "seed": seed(1),
                    "script": script,
                },
            )
        )
    out.append(
        (
            "seed_empty",
            "a call key of 0 bytes is refused before any call",
            {
                "catalog": example,
                "policy": _plan_policy({}, 16, select),
                "request": request(),
                "seed": b"",
                "script": ["ok"],
            },
        )
    )
    empty = _plan_policy({}, 16, select)
    empty["filter"] = ["false"]
    out.append(
        (
            "no_route",
            "no route survives: NO_PROVIDER_FOR_PROMPT without a call",
            {
                "catalog": example,
                "policy": empty,
                "request": request(),
                "seed": seed(0),
                "script": [],
            },
        )
    )
    return out


# -- §9 decision ------------------------------------------------------------------------------


def gen_decision() -> Generated:
    """End-to-end decisions: example policies and stock-greybox on each catalog (§9)."""
    out: Generated = []
    documents = [*example_policies(), *BUILTINS.items()]
    catalogs = [
        ("example", example_catalog()),
        ("greybox", greybox_catalog()),
        ("default", default_catalog()),
        ("bytes", bytes_catalog()),
        ("partial", partial_catalog()),
        ("priority", priority_catalog()),
    ]
    for cname, c in catalogs:
        value = catalog_value(c)
        for pname, doc in documents:
            if cname in ("partial", "priority") and pname not in BUILTINS:
                continue  # the chain-layout catalogs pin the stock order, not every example
            try:
                policy = policy_value(admit(doc, c))
            except PolicyError:
                continue  # a policy this catalog cannot run is an admission vector, not a decision
            for rname, req in REQUESTS:
                for n in (0, 1):
                    out.append(
                        (
                            f"{pname}_{cname}_{rname}_seed{n}",
                            f"`{pname}` on the {cname} catalog, {rname} request, seed {n}",
                            {"catalog": value, "policy": policy, "request": req, "seed": seed(n)},
                        )
                    )
    example = catalog_value(example_catalog())
    stock = policy_value(admit(BUILTINS["stock-greybox"]))
    for size in (0, 65):
        out.append(
            (
                f"seed_{size}_bytes",
                f"a call key of {size} bytes is refused",
                {"catalog": example, "policy": stock, "request": request(), "seed": bytes(size)},
            )
        )
    # Policies admitted without a catalog, decided on one that lacks what they name:
    # `bind` refuses them at the first such term in pre-order (SPEC §8, rule 6).
    for name, what, doc in UNBOUND:
        out.append(
            (
                f"unbound_{name}",
                what,
                {
                    "catalog": example,
                    "policy": policy_value(admit(doc)),
                    "request": request(),
                    "seed": seed(0),
                },
            )
        )
    return out


UNBOUND: list[tuple[str, str, dict[str, Any]]] = [
    ("field_scorer", "a `field` scorer on an undeclared field", {"score": "speed"}),
    ("field_default", "an undeclared field with a default",
     {"score": {"sum": [{"field": {"name": "speed", "default": 3}}, "quality"]}}),
    ("has_in_filter", "`has` an undeclared field inside the filter's `all`",
     {"filter": ["json", {"has": "speed"}]}),
    ("compare_in_when", "a comparison in a mutation's `when`",
     {"mutate": [{"when": {"if": {"ge": {"speed": 1}}, "then": [{"set": {"max_tokens": 10}}]}}]}),
    ("gate_in_weighted", "a field under `gate` under `weighted`",
     {"select": {"weighted": {"gate": {"if": {"has": "speed"}, "then": 1}}}}),
    ("tier_in_tiers", "`tier_at_least` an undeclared tier in `tiers`",
     {"select": {"tiers": [{"filter": {"tier_at_least": "gold"}}]}}),
    ("filter_before_score", "the filter is checked before the score",
     {"filter": {"has": "speed"}, "score": "latency"}),
    ("inexact_constant", "a constant finer than the declared field's scale",
     {"filter": {"ge": {"quality": "0.5"}}}),
    ("empty_population", "an undeclared field even when no route survives",
     {"filter": "false", "score": "speed"}),
    # Bounds at bind (SPEC §8): proved over the catalog's values, after every name.
    ("bound_weighted_sum", "`weighted` weights whose sum over the routes leaves ±MAX",
     {"select": {"weighted": MAX}}),
    ("bound_weighted_in_tiers", "the same weights in a tier's selector under `top_k`",
     {"select": {"tiers": [{"filter": "json", "select": {"top_k": {"k": 2, "of": {
         "weighted": {"sum": [MAX // 4, 1]}}}}}]}}),
    ("bound_scale_of_catalog_value", "a `scale` of a declared field whose values overflow it",
     {"score": {"scale": {"by": 1000000, "of": {"scale": {"by": 1000000, "of": {
         "scale": {"by": 1000000, "of": "quality"}}}}}}}),
    ("bound_normalize_span", "a `normalize` whose span times its range leaves ±MAX",
     {"score": {"normalize": {"to": 1000000, "of": {"scale": {"by": 1000000, "of": {
         "scale": {"by": 1000000, "of": "quality"}}}}}}}),
    ("bound_after_names", "an undeclared field is reported before a bound",
     {"score": "speed", "select": {"weighted": MAX}}),
]  # fmt: skip  # a table laid out by hand in rows
