"""The inputs of the term vector kinds: predicate, scorer, selector (SPEC §8.1 to §8.3).

Spec: docs/VECTORS.md §6.11 to §6.13. The rules of `generate.py` apply:
pure given the repository's `examples/`, deterministic, every bound at and
past its edge, results from the reference (`run_policy.py`).
"""

from __future__ import annotations

from typing import Any

from genvm_policy.core.catalog import catalog_value
from genvm_policy.core.numeric import MAX
from genvm_policy.vectors.fixtures import (
    REQUESTS,
    bytes_catalog,
    default_catalog,
    example_catalog,
    greybox_catalog,
    partial_catalog,
    priority_catalog,
    request,
    seed,
)
from genvm_policy.vectors.generate import Generated
from genvm_policy.vectors.generate_catalog import edit

__all__ = ["gen_predicate", "gen_scorer", "gen_selector"]

# -- §8.1 predicate ----------------------------------------------------------------------------

PREDICATES: list[tuple[str, list[Any]]] = [
    ("true", ["true"]),
    ("false", ["false"]),
    ("needs", ["needs"]),
    ("json", ["json"]),
    ("image", ["image"]),
    ("has_tee", ["has_tee"]),
    ("no_log", ["no_log"]),
    ("provider_in_router", ["provider_in", ["router"]]),
    ("provider_in_two", ["provider_in", ["anthropic", "gateway"]]),
    ("model_in", ["model_in", ["meta-llama/llama-3.3-70b-instruct"]]),
    ("route_in", ["route_in", [["router", "openai/gpt-4.1-mini"]]]),
    ("family_in", ["family_in", ["claude-sonnet-4"]]),
    ("tier_basic", ["tier_at_least", "basic"]),
    ("tier_standard", ["tier_at_least", "standard"]),
    ("tier_premium", ["tier_at_least", "premium"]),
    ("has_price_in", ["has", "price_in"]),
    ("has_quality", ["has", "quality"]),
    ("has_greybox_image", ["has", "greybox_image"]),
    ("has_priority", ["has", "priority"]),
    ("lt_price", ["lt", "price_in", [13, -2]]),
    ("le_price", ["le", "price_in", [13, -2]]),
    ("eq_price", ["eq", "price_in", [3, 0]]),
    ("ge_price", ["ge", "price_in", [4, -1]]),
    ("gt_price", ["gt", "price_in", [4, -1]]),
    ("lt_context", ["lt", "context", [200000, 0]]),
    ("ge_quality", ["ge", "quality", [80, 0]]),
    ("eq_priority", ["eq", "priority", [5, 0]]),
    ("le_greybox_text", ["le", "greybox_text", [2, 0]]),
    ("gt_greybox_image_missing", ["gt", "greybox_image", [0, 0]]),
    ("format_in", ["format_in", ["bool", "json"]]),
    ("entry_in", ["entry_in", ["EqComparative"]]),
    ("has_images", ["has_images"]),
    ("role_in_leader", ["role_in", ["leader"]]),
    ("role_in_two", ["role_in", ["unknown", "validator"]]),
    ("tier_in", ["tier_in", ["basic", "premium"]]),
    ("request_le_prompt_bytes", ["request", "le", "prompt_bytes", 2048]),
    ("request_gt_prompt_bytes", ["request", "gt", "prompt_bytes", 100]),
    ("request_eq_images", ["request", "eq", "images", 2]),
    ("request_ge_max_tokens", ["request", "ge", "max_tokens", 1000]),
    ("request_lt_max_tokens", ["request", "lt", "max_tokens", 8000]),
    ("fits_context", ["fits_context", 4, 0]),
    ("fits_context_reserve", ["fits_context", 1, 127000]),
    ("fits_context_tight", ["fits_context", 3, 191300]),
    ("all", ["all", ["json"], ["tier_at_least", "standard"], ["lt", "price_in", [1, 0]]]),
    ("any", ["any", ["has_tee"], ["family_in", ["claude-sonnet-4"]]]),
    ("not_json", ["not", ["json"]]),
    ("not_provider", ["not", ["provider_in", ["router"]]]),
    (
        "nested",
        ["any", ["all", ["image"], ["not", ["has_tee"]]], ["all", ["no_log"], ["has_images"]]],
    ),
]


def gen_predicate() -> Generated:
    """Every predicate op on routes × requests: survivors and first failing reasons (§8.1)."""
    out: Generated = []
    example: Any = catalog_value(example_catalog())
    for pname, pred in PREDICATES:
        for rname, req in REQUESTS:
            out.append(
                (
                    f"{pname}_{rname}",
                    f"`{pname}` after `needs`, {rname} request",
                    {"catalog": example, "request": req, "filter": ["all", ["needs"], pred]},
                )
            )
        out.append(
            (
                f"{pname}_alone",
                f"`{pname}` as the whole filter",
                {"catalog": example, "request": REQUESTS[0][1], "filter": pred},
            )
        )
    bytes_value: Any = catalog_value(bytes_catalog())
    own: list[tuple[str, list[Any]]] = [  # the byte-order catalog's own names
        ("tier_mid", ["tier_at_least", "mid"]),
        ("speed", ["gt", "speed", [8, 0]]),
        ("has_speed", ["has", "speed"]),
        ("family", ["family_in", ["fam"]]),
        ("provider_bytes", ["provider_in", ["é", "𝄞"]]),
    ]
    for pname, pred in own:
        out.append(
            (
                f"bytes_{pname}",
                f"`{pname}` on non-ASCII route names",
                {
                    "catalog": bytes_value,
                    "request": REQUESTS[2][1],
                    "filter": ["all", ["needs"], pred, ["has", "price_in"]],
                },
            )
        )
    greybox = catalog_value(greybox_catalog())
    errors: list[tuple[str, str, Any, list[Any]]] = [
        ("unknown_tier", "a tier the catalog does not declare", example, ["tier_at_least", "gold"]),
        ("no_tiers", "a tier on a catalog without tiers", greybox, ["tier_at_least", "basic"]),
        ("unknown_field", "a field the catalog does not declare", greybox, ["has", "quality"]),
        ("inexact", "a constant finer than the field's scale", example, ["lt", "context", [5, -1]]),
        (
            "speed_inexact",
            "a constant finer than a declared scale",
            bytes_value,
            ["lt", "speed", [75, -2]],
        ),
    ]
    for name, what, value, pred in errors:
        out.append(
            (f"error_{name}", what, {"catalog": value, "request": REQUESTS[0][1], "filter": pred})
        )
    wide = edit(example, ["routes", 0, "price_in"], 10**12 + 1)
    out.append(
        (
            "error_price_past_language_bound",
            "a route price past 10^12 units, read by the policy",
            {"catalog": wide, "request": REQUESTS[0][1], "filter": ["has", "price_in"]},
        )
    )
    out.append(
        (
            "price_past_bound_unread",
            "the same route passes when the policy does not read price",
            {"catalog": wide, "request": REQUESTS[0][1], "filter": ["json"]},
        )
    )
    # Data that only looks like a `field` term reads no field (SPEC §8, binding).
    lookalikes: list[tuple[str, str, list[Any]]] = [
        ("model_in", "a `model_in` list `[field, price_in]`", ["model_in", ["field", "price_in"]]),
        ("route_in", "a `route_in` route `field/price_in`", ["route_in", [["field", "price_in"]]]),
    ]
    for name, what, pred in lookalikes:
        out.append(
            (
                f"price_past_bound_{name}_lookalike",
                f"{what} reads no price: `bind` accepts the wide catalog",
                {"catalog": wide, "request": REQUESTS[0][1], "filter": pred},
            )
        )
    return out


# -- §8.2 scorer ------------------------------------------------------------------------------

SCORERS: list[tuple[str, list[Any]]] = [
    ("const", ["const", 7]),
    ("const_neg_max", ["const", -MAX]),
    ("field_price", ["field", "price_in", [0, 0]]),
    ("field_quality", ["field", "quality", [50, 0]]),
    ("field_greybox_default", ["field", "greybox_image", [9, 0]]),
    ("field_priority", ["field", "priority", [-1, 0]]),
    (
        "route_value",
        [
            "route_value",
            [
                ["gateway", "meta-llama/llama-3.3-70b-instruct", 5],
                ["router", "openai/gpt-4.1-mini", -3],
            ],
            1,
        ],
    ),
    ("neg", ["neg", ["field", "quality", [0, 0]]]),
    ("scale", ["scale", 3, 7, ["field", "quality", [0, 0]]]),
    ("scale_negative_floor", ["scale", -1, 3, ["field", "quality", [0, 0]]]),
    (
        "sum",
        ["sum", ["const", 1], ["field", "quality", [0, 0]], ["neg", ["field", "price_in", [0, 0]]]],
    ),
    ("min", ["min", ["field", "quality", [0, 0]], ["const", 75]]),
    ("max", ["max", ["field", "quality", [0, 0]], ["const", 75], ["field", "context", [0, 0]]]),
    ("gate", ["gate", ["no_log"], ["const", 20]]),
    ("gate_image", ["gate", ["image"], ["field", "quality", [0, 0]]]),
    ("normalize_quality", ["normalize", 1000, ["field", "quality", [0, 0]]]),
    ("normalize_price", ["normalize", 7, ["neg", ["field", "price_in", [0, 0]]]]),
    ("normalize_const", ["normalize", 100, ["const", 4]]),
    (
        "normalize_nested",
        [
            "normalize",
            1000000,
            ["sum", ["normalize", 3, ["field", "context", [0, 0]]], ["field", "quality", [0, 0]]],
        ],
    ),
    ("sum_at_max", ["sum", ["const", MAX - 1], ["gate", ["no_log"], ["const", 1]]]),
    ("sum_past_max", ["sum", ["const", MAX], ["gate", ["no_log"], ["const", 1]]]),
    ("sum_past_min", ["sum", ["const", -MAX], ["neg", ["field", "quality", [0, 0]]]]),
    ("scale_past_max", ["scale", 1000000, 1, ["field", "context", [MAX, 0]]]),
    ("neg_field_default", ["neg", ["field", "greybox_image", [0, 0]]]),
]

POPULATIONS: list[tuple[str, list[Any]]] = [
    ("all", ["true"]),
    ("json", ["needs"]),
    ("one", ["route_in", [["router", "openai/gpt-4.1-mini"]]]),
    ("empty", ["false"]),
]


def gen_scorer() -> Generated:
    """Every scorer op over whole, capability, one-route and empty populations (§8.2)."""
    out: Generated = []
    example: Any = catalog_value(example_catalog())
    for sname, term in SCORERS:
        for pname, pred in POPULATIONS:
            for rname, req in (REQUESTS[1], REQUESTS[2]):
                out.append(
                    (
                        f"{sname}_{pname}_{rname}",
                        f"`{sname}` over the {pname} population",
                        {"catalog": example, "request": req, "filter": pred, "score": term},
                    )
                )
    bytes_value: Any = catalog_value(bytes_catalog())
    bytes_scorers: list[tuple[str, list[Any]]] = [
        ("speed", ["field", "speed", [-15, -1]]),
        ("normalize_speed", ["normalize", 10, ["field", "speed", [0, 0]]]),
    ]
    for sname, term in bytes_scorers:
        out.append(
            (
                f"bytes_{sname}",
                f"`{sname}` on a declared field at scale 1",
                {
                    "catalog": bytes_value,
                    "request": REQUESTS[0][1],
                    "filter": ["true"],
                    "score": term,
                },
            )
        )
    return out


# -- §8.3 selector ------------------------------------------------------------------------------

ROUTER_MINI = "openai/gpt-4.1-mini"
SELECTORS: list[tuple[str, list[Any], list[Any], bool]] = [
    ("argmax_ties", ["argmax"], ["const", 0], False),
    ("argmax_quality", ["argmax"], ["field", "quality", [0, 0]], False),
    ("argmax_cheap", ["argmax"], ["neg", ["field", "price_in", [MAX, -6]]], False),
    ("argmax_speed", ["argmax"], ["field", "speed", [0, 0]], False),
    (
        "chain",
        [
            "chain",
            [
                ["𝄞", "z"],
                ["router", "openai/gpt-4.1-mini"],
                ["alpha", "a"],
                ["anthropic", "claude-sonnet-4-20250514"],
                ["Zeta", "ß"],
                ["openrouter", "deepseek/deepseek-v3.2"],
                ["openai", "gpt-4o"],
                ["heurist", "meta-llama/llama-3.3-70b-instruct"],
            ],
        ],
        ["const", 0],
        False,
    ),
    ("greybox", ["greybox"], ["const", 0], False),
    ("stock", ["stock"], ["const", 0], False),
    ("top_k_2_stock", ["top_k", 2, ["stock"]], ["const", 0], False),
    ("top_k_1", ["top_k", 1, ["argmax"]], ["field", "quality", [0, 0]], False),
    ("top_k_2_greybox", ["top_k", 2, ["greybox"]], ["const", 0], False),
    ("top_k_64_sample", ["top_k", 64, ["sample", 3]], ["const", 0], True),
    ("weighted_quality", ["weighted", ["field", "quality", [1, 0]]], ["const", 0], True),
    ("weighted_zero", ["weighted", ["const", 0]], ["const", 0], True),
    (
        "weighted_mixed",
        [
            "weighted",
            ["route_value", [["alpha", "a", -5], ["router", "openai/gpt-4.1-mini", 0]], 3],
        ],
        ["const", 0],
        True,
    ),
    ("weighted_huge", ["weighted", ["const", MAX // 8]], ["const", 0], True),
    ("sample_0", ["sample", 0], ["field", "quality", [0, 0]], True),
    ("sample_1", ["sample", 1], ["field", "quality", [0, 0]], True),
    ("sample_2", ["sample", 2], ["const", 0], True),
    ("sample_large", ["sample", 1 << 20], ["const", 0], True),
    (
        "tiers",
        ["tiers", [[["tier_at_least", "premium"], ["sample", 1]], [["true"], ["sample", 2]]]],
        ["field", "quality", [0, 0]],
        True,
    ),
    (
        "tiers_mixed",
        [
            "tiers",
            [
                [["no_log"], ["weighted", ["const", 1]]],
                [["json"], ["greybox"]],
                [["true"], ["top_k", 1, ["sample", 5]]],
            ],
        ],
        ["const", 0],
        True,
    ),
    (
        "tiers_empty_tier",
        ["tiers", [[["false"], ["sample", 1]], [["true"], ["argmax"]]]],
        ["const", 0],
        True,
    ),
    # What a tier's selector cuts stays for the later tiers (version 2).
    (
        "tiers_top_k_cut",
        ["tiers", [[["true"], ["top_k", 1, ["argmax"]]], [["true"], ["argmax"]]]],
        ["field", "quality", [0, 0]],
        False,
    ),
    (
        "tiers_chain_omits",
        [
            "tiers",
            [
                [["true"], ["chain", [["router", "openai/gpt-4.1-mini"], ["alpha", "a"]]]],
                [["true"], ["argmax"]],
            ],
        ],
        ["const", 0],
        False,
    ),
    (
        "tiers_greybox_then_rest",
        ["tiers", [[["true"], ["greybox"]], [["true"], ["argmax"]]]],
        ["const", 0],
        False,
    ),
    (
        "tiers_weighted_zero_then_sample",
        [
            "tiers",
            [
                [["true"], ["weighted", ["route_value", [["router", ROUTER_MINI, 2]], 0]]],
                [["json"], ["top_k", 2, ["sample", 1]]],
                [["true"], ["argmax"]],
            ],
        ],
        ["const", 0],
        True,
    ),
]


def gen_selector() -> Generated:
    """Each selector's order: ties by bytes, chains, top_k, weighted, sample, tiers (§8.3)."""
    out: Generated = []
    catalogs = [
        ("example", catalog_value(example_catalog())),
        ("bytes", catalog_value(bytes_catalog())),
        ("greybox", catalog_value(greybox_catalog())),
        ("default", catalog_value(default_catalog())),
        ("partial", catalog_value(partial_catalog())),
        ("priority", catalog_value(priority_catalog())),
    ]
    for sname, sel, term, random in SELECTORS:
        for cname, value in catalogs:
            text = repr(sel) + repr(term)
            only = "example" if "quality" in text or "tier_at" in text else None
            if (only or ("bytes" if "speed" in text else cname)) != cname:
                continue
            if cname in ("partial", "priority") and "greybox" not in text and "stock" not in text:
                continue  # the chain-layout catalogs pin the selectors that read chains
            # `stock` sees every prompt class: its needs decide which order applies.
            for rname, req in REQUESTS[:4] if "stock" in sname else (REQUESTS[0], REQUESTS[3]):
                for n in (0, 1, 2) if random else (0,):
                    out.append(
                        (
                            f"{sname}_{cname}_{rname}_seed{n}",
                            f"`{sname}` on the {cname} catalog, {rname} request, seed {n}",
                            {
                                "catalog": value,
                                "request": req,
                                "filter": ["needs"],
                                "score": term,
                                "select": sel,
                                "seed": seed(n),
                            },
                        )
                    )
    small = catalog_value(example_catalog())
    for sname, sel, term, _ in SELECTORS:
        if "speed" in repr(sel) + repr(term):
            continue
        for pname, pred in POPULATIONS[2:]:
            out.append(
                (
                    f"{sname}_{pname}",
                    f"`{sname}` over the {pname} population",
                    {
                        "catalog": small,
                        "request": request(),
                        "filter": pred,
                        "score": term,
                        "select": sel,
                        "seed": seed(7),
                    },
                )
            )
    return out
