"""The inputs of the admission vector kind: every admission bound (SPEC §7.4).

Spec: docs/VECTORS.md §6.10. Admission is the reference's alone, so the kind
runs on `python` only. The rules of `generate.py` apply.
"""

from __future__ import annotations

from typing import Any

from genvm_policy.authoring.builtin import BUILTINS
from genvm_policy.core.catalog import catalog_value
from genvm_policy.core.numeric import MAX
from genvm_policy.vectors.fixtures import example_catalog, example_policies
from genvm_policy.vectors.generate import Generated, f64, i64

__all__ = ["gen_admission"]

# -- §7.4 admission (reference only) ---------------------------------------------------------


def _nest(depth: int) -> Any:
    term: Any = "json"
    for _ in range(depth):
        term = {"not": term}
    return term


EDGES: list[tuple[str, str, dict[str, Any]]] = [
    ("depth_16", "a term at depth 16", {"filter": _nest(16)}),
    ("depth_17", "a term at depth 17", {"filter": _nest(17)}),
    (
        "nodes_1024",
        "1,024 terms with the default selector",
        {"filter": [{"any": ["json"] * 255}] * 3 + [{"any": ["json"] * 254}]},
    ),
    (
        "nodes_1025",
        "1,025 terms with the default selector",
        {"filter": [{"any": ["json"] * 255}] * 4},
    ),
    (
        "list_256",
        "a list of 256 items",
        {"filter": [{"provider_in": [f"p{i}" for i in range(256)]}]},
    ),
    (
        "list_257",
        "a list of 257 items",
        {"filter": [{"provider_in": [f"p{i}" for i in range(257)]}]},
    ),
    ("max_attempts_16", "16 attempts", {"max_attempts": 16}),
    ("max_attempts_17", "17 attempts", {"max_attempts": 17}),
    ("max_attempts_0", "0 attempts", {"max_attempts": 0}),
    ("retry_5", "a retry of 5 attempts", {"on_failure": {"server": {"retry": {"attempts": 5}}}}),
    ("retry_6", "a retry of 6 attempts", {"on_failure": {"server": {"retry": {"attempts": 6}}}}),
    ("retry_0", "a retry of 0 attempts", {"on_failure": {"server": {"retry": {"attempts": 0}}}}),
    (
        "backoff_60000",
        "a 60 s backoff",
        {"on_failure": {"auth": {"retry": {"attempts": 1, "backoff_ms": 60000}}}},
    ),
    (
        "backoff_60001",
        "a backoff past 60 s",
        {"on_failure": {"auth": {"retry": {"attempts": 1, "backoff_ms": 60001}}}},
    ),
    (
        "retry_in_retry",
        "a retry after a retry",
        {"on_failure": {"auth": {"retry": {"attempts": 1, "then": {"retry": {"attempts": 1}}}}}},
    ),
    ("scale_by_max", "scale by 10^6", {"score": {"scale": {"by": 1000000, "of": 1}}}),
    ("scale_by_past", "scale by 10^6 + 1", {"score": {"scale": {"by": 1000001, "of": 1}}}),
    ("scale_by_min", "scale by −10^6", {"score": {"scale": {"by": -1000000, "of": 1}}}),
    ("scale_by_below", "scale by −10^6 − 1", {"score": {"scale": {"by": -1000001, "of": 1}}}),
    ("scale_div_max", "divide by 10^6", {"score": {"scale": {"div": 1000000, "of": 1}}}),
    ("scale_div_past", "divide by 10^6 + 1", {"score": {"scale": {"div": 1000001, "of": 1}}}),
    ("scale_div_0", "divide by 0", {"score": {"scale": {"div": 0, "of": 1}}}),
    (
        "normalize_max",
        "normalize to 10^6",
        {"score": {"normalize": {"of": "quality", "to": 1000000}}},
    ),
    (
        "normalize_past",
        "normalize to 10^6 + 1",
        {"score": {"normalize": {"of": "quality", "to": 1000001}}},
    ),
    ("normalize_0", "normalize to 0", {"score": {"normalize": {"of": "quality", "to": 0}}}),
    ("spread_max", "sample spread 2^20", {"select": {"sample": 1048576}}),
    ("spread_past", "sample spread 2^20 + 1", {"select": {"sample": 1048577}}),
    ("spread_m1", "sample spread −1", {"select": {"sample": -1}}),
    ("top_k_64", "top 64", {"select": {"top_k": {"k": 64}}}),
    ("top_k_65", "top 65", {"select": {"top_k": {"k": 65}}}),
    ("top_k_0", "top 0", {"select": {"top_k": {"k": 0}}}),
    ("const_max", "a constant of MAX", {"score": MAX}),
    ("const_past", "a constant past MAX", {"score": i64(MAX + 1)}),
    (
        "sum_at_bound",
        "a sum whose bound is MAX",
        {"score": {"sum": [MAX - 1, {"gate": {"if": "json", "then": 1}}]}},
    ),
    (
        "sum_past_bound",
        "a sum whose bound passes MAX",
        {"score": {"sum": [MAX, {"gate": {"if": "json", "then": 1}}]}},
    ),
    (
        "scale_bound",
        "price × 1,000 stays within MAX",
        {"score": {"scale": {"by": 1000, "of": "price_in"}}},
    ),
    (
        "scale_context_bound",
        "context × 10^6 × … passes MAX",
        {
            "score": {
                "sum": [
                    {"scale": {"by": 1000000, "of": "context"}},
                    {"scale": {"by": 1000000, "of": "price_in"}},
                ]
            }
        },
    ),
    ("temperature_2", "set temperature 2.0", {"mutate": [{"set": {"temperature": "2.0"}}]}),
    ("temperature_past", "set temperature 2.001", {"mutate": [{"set": {"temperature": "2.001"}}]}),
    (
        "temperature_inexact",
        "set temperature 0.0005",
        {"mutate": [{"set": {"temperature": "0.0005"}}]},
    ),
    ("max_tokens_top", "set max_tokens 2^32 − 1", {"mutate": [{"set": {"max_tokens": 2**32 - 1}}]}),
    ("max_tokens_past", "set max_tokens 2^32", {"mutate": [{"set": {"max_tokens": 2**32}}]}),
    (
        "jitter_span",
        "jitter temperature by ±2",
        {"mutate": [{"jitter": {"temperature": ["-2", "2"]}}]},
    ),
    (
        "jitter_past",
        "jitter temperature past ±2",
        {"mutate": [{"jitter": {"temperature": ["-2.001", "2"]}}]},
    ),
    (
        "jitter_reversed",
        "a jitter whose low end is above its high end",
        {"mutate": [{"jitter": {"temperature": ["0.1", "0"]}}]},
    ),
    ("unknown_tier", "a tier the catalog lacks", {"filter": {"tier_at_least": "gold"}}),
    ("unknown_route", "a chain route the catalog lacks", {"select": {"chain": ["router/nope"]}}),
    ("unknown_field", "a field the catalog lacks", {"score": "speed"}),
    ("inexact_field", "a constant finer than the field", {"filter": {"lt": {"context": "0.5"}}}),
    (
        "duplicate_chain",
        "a chain route twice",
        {"select": {"chain": ["router/openai/gpt-4.1-mini"] * 2}},
    ),
    ("float_constant", "a binary float constant", {"score": f64("3fb999999999999a")}),
    # Version 2: request facts, roles, tiers by name, failure groups.
    ("version_1", "a version-1 document keeps its meaning", {"version": 1}),
    ("version_3", "an unknown version", {"version": 3}),
    ("overloaded_group", "the overloaded group with one class overridden",
     {"on_failure": {"overloaded": "skip_provider", "timeout": {"retry": {"attempts": 1}}}}),
    ("overloaded_retry", "a retry for the whole group",
     {"on_failure": {"overloaded": {"retry": {"attempts": 2, "backoff_ms": 1000}}}}),
    ("request_facts", "request facts compared like fields",
     {"filter": [{"le": {"prompt_bytes": 40000, "images": 1}}, {"gt": {"max_tokens": 100}}]}),
    ("request_fact_range", "a request fact past its range",
     {"filter": {"le": {"images": 17}}}),
    ("request_fact_decimal", "a request fact compared with a decimal",
     {"filter": {"le": {"prompt_bytes": "1.5"}}}),
    ("role_in", "a role list", {"filter": {"role_in": ["validator", "unknown"]}}),
    ("role_not_in", "a negated role list", {"filter": {"role_not_in": "leader"}}),
    ("role_unknown", "an unknown role", {"filter": {"role_in": ["observer"]}}),
    ("tier_in", "a tier list", {"filter": {"tier_in": ["premium", "basic"]}}),
    ("tier_in_unknown", "a tier list naming an undeclared tier",
     {"filter": {"tier_in": ["premium", "gold"]}}),
    ("fits_context", "fits_context with its default reserve",
     {"filter": {"fits_context": {"bytes_per_token": 4}}}),
    ("fits_context_edges", "fits_context at its bounds",
     {"filter": {"fits_context": {"bytes_per_token": 64, "reserve": 2**32}}}),
    ("fits_context_zero", "fits_context with zero bytes per token",
     {"filter": {"fits_context": {"bytes_per_token": 0}}}),
    ("fits_context_missing", "fits_context without bytes per token",
     {"filter": {"fits_context": {"reserve": 10}}}),
    ("flag_with_argument", "`has_tee: true` (a flag written as a map)",
     {"filter": [{"has_tee": True}]}),
    ("cost_tiers_20", "20 tiers of `sample`: within the cost bound",
     {"select": {"tiers": [{"filter": "true", "select": {"sample": 1}}] * 20}}),
    ("cost_tiers_100", "100 tiers of `sample`: over the cost bound (`POL_COST`)",
     {"select": {"tiers": [{"filter": "true", "select": {"sample": 1}}] * 100}}),
]  # fmt: skip  # a table laid out by hand in rows


def gen_admission() -> Generated:
    """Authored policies at and past every admission bound, against the example catalog (§7.4)."""
    example = catalog_value(example_catalog())
    out: Generated = []
    for name, what, doc in EDGES:
        # Size bounds are checked without a catalog, so made-up provider names pass.
        alone = name.startswith(("list_", "nodes_", "depth_"))
        out.append(
            (
                f"edge_{name}",
                what,
                {"policy": doc} if alone else {"policy": doc, "catalog": example},
            )
        )
    for name, doc in example_policies(plain=True):
        out.append(
            (f"example_{name}", f"the example policy `{name}`", {"policy": doc, "catalog": example})
        )
        out.append(
            (f"example_{name}_no_catalog", f"`{name}` admitted without a catalog", {"policy": doc})
        )
    out.append(
        ("stock_greybox", "the built-in stock-greybox", {"policy": BUILTINS["stock-greybox"]})
    )
    return out
