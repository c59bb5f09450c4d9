"""Admission (§7): shapes, codes and paths, normal form, identity, robustness."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.policies import catalog

from genvm_policy.authoring.admission import admit
from genvm_policy.core.encoding import Value, encode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import CLASS_GROUPS, CLASSES, LIMITS, policy_identity

CAT = catalog()


def code_path(doc: Any, cat: Any = CAT) -> tuple[str, tuple[Any, ...]]:
    with pytest.raises(PolicyError) as info:
        admit(doc, cat)
    return info.value.code, info.value.path


def test_empty_document_takes_every_default() -> None:
    p = admit({})
    assert p.filter == ["needs"]
    assert p.score == ["const", 0]
    assert p.select == ["argmax"]
    assert p.mutate == ()
    overloaded = ("rate_limited", "unavailable", "timeout")
    assert dict(p.on_failure) == {c: ["next"] if c in overloaded else ["abort"] for c in CLASSES}
    assert p.max_attempts == 8


def test_each_op_admits_to_its_term() -> None:
    p = admit(
        {
            "filter": [
                {"provider_not_in": ["direct"]},
                {"pin": "router/qwen/qwen3"},
                {"ge": {"quality": 50}},
                {"tier_at_least": "basic"},
                {"any": ["has_tee", {"format_in": ["json"]}]},
            ],
            "score": {"normalize": {"of": {"neg": "price_in"}, "to": 10}},
            "select": {"top_k": {"k": 2, "of": {"sample": 3}}},
            "mutate": [{"set": {"temperature": "0.5", "max_tokens": 900}}],
        },
        CAT,
    )
    children: list[Value] = [
        ["needs"],
        ["any", ["has_tee"], ["format_in", ["json"]]],
        ["ge", "quality", [50, 0]],
        ["not", ["provider_in", ["direct"]]],
        ["route_in", [["router", "qwen/qwen3"]]],
        ["tier_at_least", "basic"],
    ]
    # Children of a commutative op sit in the order of their canonical bytes.
    assert p.filter == ["all", *sorted(children, key=encode)]
    assert p.score == ["normalize", 10, ["neg", ["field", "price_in", [0, 0]]]]
    assert p.select == ["top_k", 2, ["sample", 3]]
    assert p.mutate == (["set", "max_tokens", 900], ["set", "temperature", 500])


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"filter": ["json", "has_tee"]}, {"filter": ["has_tee", "json", "json"]}),
        ({"filter": [{"all": ["json", {"all": ["has_tee"]}]}]}, {"filter": ["has_tee", "json"]}),
        ({"filter": ["true", "json"]}, {"filter": {"not": {"not": "json"}}}),
        ({"filter": [{"le": {"price_in": "0.150"}}]}, {"filter": [{"le": {"price_in": "0.15"}}]}),
        ({"filter": [{"le": {"price_in": "1.5e-1"}}]}, {"filter": [{"le": {"price_in": "0.15"}}]}),
        ({"filter": ["needs"]}, {}),
        ({"filter": [{"provider_in": ["b", "a", "a"]}]}, {"filter": [{"provider_in": ["a", "b"]}]}),
        ({"score": {"sum": [1, "price_in", 2, -3]}}, {"score": "price_in"}),
        ({"score": {"max": [{"max": [1, 2]}, 3]}}, {"score": {"max": [3, 2, 1, 2]}}),
        ({"on_failure": {"overloaded": "next", "auth": "abort"}}, {}),
        (
            {"version": 1, "on_failure": {"overloaded": "skip_provider"}},
            {"on_failure": {c: "skip_provider" for c in CLASS_GROUPS["overloaded"]}},
        ),
        (
            {"on_failure": {"overloaded": "abort", "timeout": "next"}},
            {"version": 2, "on_failure": {"rate_limited": "abort", "unavailable": "abort"}},
        ),
        ({"select": {"top_k": {"k": 1}}}, {"select": {"top_k": {"k": 1, "of": "argmax"}}}),
    ],
)
def test_respellings_share_one_identity(a: Any, b: Any) -> None:
    assert policy_identity(admit(a)) == policy_identity(admit(b))


def test_different_policies_differ() -> None:
    assert policy_identity(admit({"filter": ["json"]})) != policy_identity(admit({}))
    chain_a = {"select": {"chain": ["router/qwen/qwen3", "router/deepseek/v3"]}}
    chain_b = {"select": {"chain": ["router/deepseek/v3", "router/qwen/qwen3"]}}
    assert policy_identity(admit(chain_a)) != policy_identity(admit(chain_b))


@pytest.mark.parametrize(
    ("doc", "code", "path"),
    [
        ({"filtr": []}, "POL_KEY", ("filtr",)),
        ({"filter": ["jsonn"]}, "POL_OP", ("filter", 0)),
        ({"filter": [{"sum": [1]}]}, "POL_SORT", ("filter", 0)),
        ({"score": "argmax"}, "POL_SORT", ("score",)),
        ({"filter": [{"json": 1}]}, "POL_ARITY", ("filter", 0)),
        ({"filter": ["provider_in"]}, "POL_ARITY", ("filter", 0)),
        ({"filter": [{"all": []}]}, "POL_ARITY", ("filter", 0, "all")),
        ({"filter": [{"ge": {"speed": 1}}]}, "POL_FIELD", ("filter", 0, "ge", "speed")),
        (
            {"filter": [{"le": {"price_in": "0.0000001"}}]},
            "NUM_INEXACT",
            ("filter", 0, "le", "price_in"),
        ),
        ({"filter": [{"pin": "router/nope"}]}, "POL_ROUTE", ("filter", 0, "pin")),
        ({"filter": [{"pin": "no-slash"}]}, "POL_ROUTE", ("filter", 0, "pin")),
        ({"filter": [{"provider_in": ["x"]}]}, "POL_ROUTE", ("filter", 0, "provider_in", 0)),
        ({"filter": [{"tier_at_least": "gold"}]}, "POL_TIER", ("filter", 0, "tier_at_least")),
        ({"filter": [{"format_in": ["xml"]}]}, "POL_VALUE", ("filter", 0, "format_in", 0)),
        (
            {"select": {"chain": ["router/qwen/qwen3", "router/qwen/qwen3"]}},
            "POL_DUPLICATE",
            ("select", "chain", 1),
        ),
        ({"select": {"top_k": {"k": 0}}}, "NUM_RANGE", ("select", "top_k", "k")),
        (
            {"mutate": [{"set": {"temperature": "2.5"}}]},
            "NUM_RANGE",
            ("mutate", 0, "set", "temperature"),
        ),
        ({"mutate": [{"set": {"seed": 1}}]}, "POL_KEY", ("mutate", 0, "set", "seed")),
        (
            {"mutate": [{"clamp": {"max_tokens": [9, 1]}}]},
            "POL_VALUE",
            ("mutate", 0, "clamp", "max_tokens"),
        ),
        ({"mutate": [{"text_filters": ["NFKD"]}]}, "POL_VALUE", ("mutate", 0, "text_filters", 0)),
        ({"on_failure": {"teapot": "next"}}, "POL_KEY", ("on_failure", "teapot")),
        (
            {
                "on_failure": {
                    "server": {"retry": {"attempts": 2, "then": {"retry": {"attempts": 1}}}}
                }
            },
            "POL_VALUE",
            ("on_failure", "server", "retry", "then"),
        ),
        (
            {"on_failure": {"server": {"retry": {"attempts": 6}}}},
            "NUM_RANGE",
            ("on_failure", "server", "retry", "attempts"),
        ),
        ({"max_attempts": 17}, "NUM_RANGE", ("max_attempts",)),
        (
            {
                "score": {
                    "sum": [
                        {"scale": {"by": 5000, "of": "price_in"}},
                        {"neg": "price_in"},
                        {"scale": {"by": 5000, "of": "price_out"}},
                    ]
                }
            },
            "POL_BOUND",
            ("score", "sum"),
        ),
        (
            {"score": {"normalize": {"of": "price_in", "to": 10000}}},
            "POL_BOUND",
            ("score", "normalize"),
        ),
        ({"score": 0.5}, "NUM_FLOAT", ("score",)),
        ([], "POL_TYPE", ()),
    ],
)
def test_errors_have_code_and_path(doc: Any, code: str, path: tuple[Any, ...]) -> None:
    assert code_path(doc) == (code, path)


def test_catalog_checks_only_with_a_catalog() -> None:
    doc = {"filter": [{"ge": {"speed": 1}}, {"pin": "x/y"}, {"tier_at_least": "gold"}]}
    admit(doc)  # no catalog: names cannot be checked yet
    assert code_path(doc)[0] == "POL_FIELD"


def test_depth_and_node_limits() -> None:
    deep: Any = "json"
    for _ in range(LIMITS["depth"] + 1):
        deep = {"not": deep}
    assert code_path({"filter": [deep]})[0] == "POL_LIMIT"
    wide = {"filter": [{"any": ["json"] * LIMITS["list"]} for _ in range(5)]}
    assert code_path(wide)[0] == "POL_LIMIT"
    assert code_path({"filter": ["json"] * (LIMITS["list"] + 1)})[0] == "POL_LIMIT"


def test_bound_holds_at_the_edge() -> None:
    # price_in ≤ 10^12 units: 9007 × 10^12 < MAX < 9008 × 10^12.
    admit({"score": {"scale": {"by": 9007, "of": "price_in"}}}, CAT)
    assert code_path({"score": {"scale": {"by": 9008, "of": "price_in"}}})[0] == "POL_BOUND"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(["json", "needs", "argmax", "price_in", "next", "quality", "0.5"]),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "filter",
                    "score",
                    "select",
                    "mutate",
                    "on_failure",
                    "max_attempts",
                    "all",
                    "any",
                    "not",
                    "sum",
                    "neg",
                    "le",
                    "of",
                    "to",
                    "k",
                    "top_k",
                    "retry",
                    "attempts",
                    "set",
                    "temperature",
                    "chain",
                    "pin",
                    "x",
                ]
            ),
            kids,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(json_values, st.booleans())
def test_arbitrary_values_raise_only_policy_errors(doc: Any, with_catalog: bool) -> None:
    try:
        admit(doc, CAT if with_catalog else None)
    except PolicyError:
        pass
