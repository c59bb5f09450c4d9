"""The inputs of the catalog and request vector kinds (SPEC §5.5, §5.6, §6).

Spec: docs/VECTORS.md §6.8 and §6.9. The rules of `generate.py` apply:
pure given the repository's `examples/`, deterministic, every bound at and
past its edge, results from the reference (`run_policy.py`).
"""

from __future__ import annotations

from typing import Any

from genvm_policy.core.catalog import catalog_value
from genvm_policy.core.numeric import MAX
from genvm_policy.vectors.fixtures import (
    GREYBOX_NODE,
    REQUESTS,
    bytes_catalog,
    default_catalog,
    example_catalog,
    greybox_catalog,
)
from genvm_policy.vectors.generate import FLOAT_3, FLOAT_503, Generated, f64, i64

__all__ = ["edit", "gen_catalog", "gen_family", "gen_request", "gen_view"]

# -- §5.6 view -------------------------------------------------------------------------


def _providers(node: dict[str, Any]) -> dict[str, Any]:
    """`__llm.providers` as GenVM renders a node config: no hosts, keys or kinds."""
    out: dict[str, Any] = {}
    for name, backend in node["backends"].items():
        if backend.get("enabled") is False or not backend.get("key"):
            continue
        entry: dict[str, Any] = {"models": {}}
        if "meta" in backend:
            entry["meta"] = backend["meta"]
        for model, spec in backend["models"].items():
            entry["models"][model] = {k: v for k, v in spec.items() if k != "timeout"}
        out[name] = entry
    return out


def _one(meta: Any = None, model_meta: Any = None, **flags: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"supports_json": True, "supports_image": False, **flags}
    if model_meta is not None:
        spec["meta"] = model_meta
    backend: dict[str, Any] = {"models": {"m": spec}}
    if meta is not None:
        backend["meta"] = meta
    return {"p": backend}


VIEWS: list[tuple[str, str, Any]] = [
    (
        "greybox_node",
        "a greybox-chain node: positions, priorities, a disabled model",
        _providers(GREYBOX_NODE),
    ),
    ("empty", "no backend at all", {}),
    ("backend_without_models", "a backend with no `models` table", {"p": {"meta": {}}}),
    ("meta_false", "the older line hands a missing meta over as a non-table value", _one(False)),
    ("meta_text", "a backend meta that is text", _one("x")),
    ("meta_integer", "a backend meta that is an integer", _one(7)),
    ("model_meta_false", "a model meta that is a non-table value", _one(None, False)),
    ("missing_greybox", "a model meta without `greybox`", _one({"priority": 2}, {"x": 1})),
    ("greybox_not_table", "`meta.greybox` that is text", _one(None, {"greybox": "1"})),
    (
        "greybox_float",
        "a position 3.0 arrives as a float: absent",
        _one(None, {"greybox": {"text": f64(FLOAT_3)}}),
    ),
    (
        "greybox_bool",
        "a position `true`: absent",
        _one(None, {"greybox": {"text": True, "image": 0}}),
    ),
    (
        "greybox_text_value",
        "a position written as text: absent",
        _one(None, {"greybox": {"text": "1"}}),
    ),
    (
        "greybox_negative",
        "a negative position is outside 0 … MAX: absent",
        _one(None, {"greybox": {"text": -1, "image": MAX}}),
    ),
    (
        "greybox_past_max",
        "a position past MAX: absent",
        _one(None, {"greybox": {"text": i64(MAX + 1)}}),
    ),
    ("priority_min", "priority −MAX is kept", _one({"priority": -MAX})),
    ("priority_past_min", "priority −MAX − 1 is absent", _one({"priority": i64(-MAX - 1)})),
    ("priority_float", "priority 503.0 as a float is absent", _one({"priority": f64(FLOAT_503)})),
    (
        "flags_not_true",
        "flags count only when they are the boolean `true`",
        _one(None, None, supports_json=1, supports_image="true", use_max_completion_tokens=True),
    ),
    ("disabled_model", "`enabled: false` leaves the model out", _one(None, None, enabled=False)),
    ("enabled_other", "`enabled` other than `false` keeps the model", _one(None, None, enabled=0)),
    (
        "model_not_table",
        "a model entry that is not a table is left out",
        {"p": {"models": {"m": True}}},
    ),
    (
        "bytes_order",
        "routes sorted by provider bytes then model bytes",
        {
            name: {
                "models": {m: {"supports_json": True} for m in ("a", "Z", "é", "ß", "水", "𝄞", "b")}
            }
            for name in ("alpha", "Zeta", "é", "𝄞", "ß")
        },
    ),
]


def gen_view() -> Generated:
    """The GenVM view of `__llm.providers` renderings, and the view identity (§5.6)."""
    return [(f"view_{name}", what, {"providers": value}) for name, what, value in VIEWS]


# -- §5.8 family -------------------------------------------------------------------------

FAMILY_NAMES: list[tuple[str, str, str, str]] = [
    ("ionet_llama", "the issue's pair, case and packaging: one family", "ionet",
     "meta-llama/Llama-3.3-70B-Instruct"),
    ("heurist_llama", "the issue's pair, lower case", "heurist",
     "meta-llama/llama-3.3-70b-instruct"),
    ("openrouter_haiku", "a vendor prefix and a dotted version", "openrouter",
     "anthropic/claude-haiku-4.5"),
    ("anthropic_haiku", "a dashed version and an 8-digit date", "anthropic",
     "claude-haiku-4-5-20251001"),
    ("router_whole", "a router named with its gateway", "openrouter", "openrouter/auto"),
    ("router_after_prefix", "a router reached after the provider prefix", "openrouter",
     "openrouter/openrouter/auto"),
    ("router_bare", "a bare router id on any provider", "gateway", "auto"),
    ("router_tagged", "a router with a packaging tag", "x", "openrouter/auto:free"),
    ("router_case", "routers are matched after case folding", "x", "Switchpoint/Router"),
    ("tag_free", "`:free` is packaging", "openrouter", "meta-llama/llama-3.3-70b-instruct:free"),
    ("tag_once", "only one tag is removed", "p", "m:free:free"),
    ("tag_unknown", "a tag not in the table stays", "ollama", "llama3.3:70b"),
    ("tag_empty", "an empty tag stays", "p", "m:"),
    ("tag_alone", "a name that is only a tag stays", "p", ":free"),
    ("provider_prefix", "the provider's own prefix, case folded", "Heurist",
     "heurist/mistral-7b"),
    ("provider_prefix_only", "a prefix with nothing after it stays", "p", "p/"),
    ("vendor_only", "a vendor prefix with nothing after it stays", "p", "meta-llama/"),
    ("vendor_once", "one vendor prefix is removed", "p", "openai/anthropic/claude-3"),
    ("vendor_unknown", "an unknown vendor prefix stays", "p", "nousresearch/hermes-3-llama"),
    ("date_dashed", "a 4-2-2 date", "openai", "gpt-4o-2024-08-06"),
    ("date_dashed_alone", "a 4-2-2 date needs a segment before it", "p", "2024-08-06"),
    ("date_short", "a 4-digit stamp", "openai", "gpt-4-0613"),
    ("date_then_suffix", "a stamp and then a packaging suffix", "ionet",
     "mistralai/Mistral-Large-Instruct-2411"),
    ("date_at", "a snapshot written with `@`", "vertex", "claude-haiku-4-5@20251001"),
    ("date_19", "8 digits not starting with 20 are not a date", "p", "m-19991231"),
    ("suffix_it", "`-it` is packaging", "p", "gemma-2-9b-it"),
    ("suffix_latest", "`-latest` is packaging", "mistral", "mistral-large-latest"),
    ("suffix_alone", "a name that is only a suffix stays", "p", "instruct"),
    ("version_join", "`3-5` is `3.5`, the scan goes on after the pair", "p",
     "claude-3-5-sonnet-4-1"),
    ("version_three", "three short numbers: the first pair is joined", "p", "m-1-2-3"),
    ("version_first", "a first segment is never joined", "p", "4-5"),
    ("version_long", "a 3-digit number is not a version part", "p", "m-4-100"),
    ("size_kept", "`3.3-70b` keeps its size", "p", "llama-3.3-70b"),
    ("empty_segments", "empty segments are kept", "p", "a--b-"),
    ("empty_after_suffix", "a suffix after an empty segment: the name stays", "p", "-BF16"),
    ("only_separators", "separators alone", "p", "--"),
    ("non_ascii", "non-ASCII letters are not folded", "p", "ÉCOLE-Model"),
    ("qwen_full", "vendor, case, suffix and stamp together", "together",
     "Qwen/Qwen3-235B-A22B-Instruct-2507"),
]  # fmt: skip  # a table laid out by hand in rows


def gen_family() -> Generated:
    """Families of names for every rule of §5.8, of the fixture catalogs, and the table."""
    out: Generated = [("table", "the rule's table, row by row", {"op": "table"})]
    for name, what, provider, model in FAMILY_NAMES:
        out.append((name, what, {"op": "family", "provider": provider, "model": model}))
    for label, c in (("greybox", greybox_catalog()), ("default", default_catalog())):
        for n, r in enumerate(c.routes):
            out.append(
                (
                    f"{label}_{n}",
                    f"route {r.provider}/{r.model} of the `{label}` catalog",
                    {"op": "family", "provider": r.provider, "model": r.model},
                )
            )
    return out


# -- §5.5 catalog -------------------------------------------------------------------------


def edit(value: Any, path: list[Any], new: Any, *, drop: bool = False) -> Any:
    """A copy of `value` with the item at `path` replaced by `new` (or dropped)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        out_list = list(value)
        out_list[head] = edit(value[head], rest, new, drop=drop)
        return out_list
    out = dict(value)
    if drop and not rest:
        del out[head]
    else:
        out[head] = edit(value.get(head), rest, new, drop=drop)
    return out


def gen_catalog() -> Generated:
    """Identities of realistic catalogs; every rejection of the Lua catalog decoder (§5.5)."""
    catalogs = {
        "example": example_catalog(),
        "greybox": greybox_catalog(),
        "default": default_catalog(),
        "bytes": bytes_catalog(),
    }
    out: Generated = []
    for name, c in catalogs.items():
        out.append(
            (
                f"identity_{name}",
                f"identities of the `{name}` catalog",
                {"catalog": catalog_value(c)},
            )
        )
    base: Any = catalog_value(catalogs["bytes"])
    routes = base["routes"]
    swapped = [routes[1], routes[0], *routes[2:]]
    bad: list[tuple[str, str, list[Any], Any, bool]] = [
        ("not_map", "the catalog is an array", [], [], False),
        ("missing_routes", "no `routes` key", ["routes"], None, True),
        ("extra_key", "an unknown top-level key", ["hosts"], [], False),
        ("version_2", "version 2", ["version"], 2, False),
        ("version_text", "version as text", ["version"], "1", False),
        ("tiers_map", "tiers that are a map", ["tiers"], {}, False),
        ("tier_integer", "a tier that is an integer", ["tiers", 1], 1, False),
        ("fields_map", "fields that are a map", ["fields"], {}, False),
        ("field_scale_text", "a field scale as text", ["fields", 0, "scale"], "1", False),
        ("field_max_null", "a field bound that is null", ["fields", 0, "max"], None, False),
        ("field_name_bytes", "a field name that is bytes", ["fields", 0, "name"], b"speed", False),
        (
            "field_extra",
            "a field declaration with an unknown key",
            ["fields", 0, "unit"],
            "ms",
            False,
        ),
        ("routes_map", "routes that are a map", ["routes"], {}, False),
        ("route_array", "a route that is an array", ["routes", 2], [], False),
        ("route_missing_kind", "a route without `kind`", ["routes", 2, "kind"], None, True),
        ("route_extra_host", "a route with a host", ["routes", 2, "host"], "https://x", False),
        (
            "route_provider_int",
            "a provider that is an integer",
            ["routes", 3, "provider"],
            1,
            False,
        ),
        ("route_json_int", "a json flag that is an integer", ["routes", 3, "json"], 1, False),
        ("route_price_text", "a price as text", ["routes", 3, "price_in"], "0.5", False),
        (
            "route_priority_bool",
            "a priority that is a boolean",
            ["routes", 3, "priority"],
            True,
            False,
        ),
        ("route_family_null", "a family that is null", ["routes", 3, "family"], None, False),
        ("route_tier_int", "a tier that is an integer", ["routes", 3, "tier"], 0, False),
        (
            "route_fields_array",
            "route fields that are an array",
            ["routes", 3, "fields"],
            [],
            False,
        ),
        (
            "route_field_text",
            "a route field value as text",
            ["routes", 0, "fields", "speed"],
            "7",
            False,
        ),
        ("route_duplicate", "the same route twice", ["routes", 1], routes[0], False),
        ("routes_out_of_order", "two routes out of byte order", ["routes"], swapped, False),
        ("default_tier_int", "a default tier that is an integer", ["default_tier"], 3, False),
    ]
    for name, what, path, new, drop in bad:
        value = edit(base, path, new, drop=drop)
        out.append((f"reject_{name}", what, {"catalog": value}))
    last = dict(routes[-1], model="zz")
    out.append(
        (
            "reject_model_after_order",
            "a later model out of order under one provider",
            {"catalog": edit(base, ["routes"], [*routes, routes[-2], last][:-1])},
        )
    )
    return out + gen_view()


# -- §6 request ------------------------------------------------------------------------------

EDGES: dict[str, list[tuple[str, Any]]] = {
    "images": [("0", 0), ("16", 16), ("17", 17), ("m1", -1)],
    "prompt_bytes": [("0", 0), ("max", 2**32 - 1), ("past", 2**32), ("m1", -1)],
    "temperature": [("0", 0), ("2000", 2000), ("2001", 2001), ("m1", -1)],
    "max_tokens": [("1", 1), ("max", 2**32 - 1), ("past", 2**32), ("0", 0)],
}


def gen_request() -> Generated:
    """Requests, defaults and identities; each limit at and past its edge (§6)."""
    out: Generated = [
        (f"class_{name}", f"the {name} request class", {"request": value})
        for name, value in REQUESTS
    ]
    for entry in ("prompt", "EqComparative", "EqNonComparativeLeader", "EqNonComparativeValidator"):
        out.append(
            (f"defaults_{entry.lower()}", f"defaults of `{entry}`", {"request": {"entry": entry}})
        )
        for fmt in ("text", "json", "bool"):
            out.append(
                (
                    f"format_{entry.lower()}_{fmt}",
                    f"`{entry}` asked for `{fmt}`",
                    {"request": {"entry": entry, "format": fmt}},
                )
            )
    for name, edges in EDGES.items():
        for tag, value in edges:
            out.append((f"limit_{name}_{tag}", f"`{name}` = {value}", {"request": {name: value}}))
    odd: list[tuple[str, str, Any]] = [
        ("empty", "the empty map: every default", {}),
        ("nulls", "null fields take their defaults", {"images": None, "format": None}),
        ("not_map", "a request that is an array", []),
        ("unknown_key", "an unknown field", {"model": "x"}),
        ("unknown_keys_bytes_first", "the first unknown key by bytes", {"z": 1, "Zz": 1, "a": 1}),
        ("entry_empty", "an empty entry", {"entry": ""}),
        ("entry_int", "an entry that is an integer", {"entry": 1}),
        ("format_bool", "a format that is a boolean", {"format": True}),
        ("format_xml", "an unknown format", {"format": "xml"}),
        ("role_leader", "this node leads", {"role": "leader"}),
        ("role_validator", "this node validates", {"role": "validator"}),
        ("role_bad", "an unknown role", {"role": "observer"}),
        ("role_int", "a role that is an integer", {"role": 1}),
        ("role_null", "a null role takes its default", {"role": None}),
        (
            "role_before_numbers",
            "the role is checked before the numbers",
            {"role": "x", "images": -1},
        ),
        (
            "format_before_role",
            "the format is checked before the role",
            {"role": "x", "format": "xml"},
        ),
        ("images_bool", "images `true`", {"images": True}),
        ("images_text", "images as text", {"images": "1"}),
        ("images_float", "images 3.0 as a host float", {"images": f64(FLOAT_3)}),
        ("temperature_past_int64", "a temperature past 2^63", {"temperature": i64(2**63 - 1)}),
        (
            "entry_before_numbers",
            "the entry is checked before the numbers",
            {"entry": "x", "images": -1},
        ),
        (
            "all_fields",
            "all seven fields at their upper edges",
            {
                "entry": "prompt",
                "format": "bool",
                "role": "validator",
                "images": 16,
                "prompt_bytes": 2**32 - 1,
                "temperature": 2000,
                "max_tokens": 2**32 - 1,
            },
        ),
        # Differential regressions: `false` is a value, not an absent field.
        ("entry_false", "an entry that is `false`", {"entry": False}),
        ("images_false", "images `false`", {"images": False}),
    ]
    out += [(f"odd_{name}", what, {"request": value}) for name, what, value in odd]
    return out
