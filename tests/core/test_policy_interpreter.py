"""Interpreter (§8): each filter, scorer, selector and mutation on a real catalog."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.policies import SEED, catalog

from genvm_policy.authoring.admission import admit
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.decision import decide
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.interpreter import bind, score
from genvm_policy.core.predicate import filter_routes, holds
from genvm_policy.core.request import make_request

CAT = catalog()
TEXT = make_request()


def order(doc: Any, req: Any = TEXT, seed: bytes = SEED) -> list[str]:
    d = decide(CAT, admit({"max_attempts": 16, **doc}, CAT), req, seed)
    return [f"{a.provider}/{a.model}" for a in d.attempts]


def scores(doc: Any, req: Any = TEXT) -> dict[str, int]:
    d = decide(CAT, admit(doc, CAT), req, SEED)
    return {f"{p}/{m}": s for p, m, s in d.scores}


@pytest.mark.parametrize(
    ("pred", "req", "kept"),
    [
        ("json", TEXT, 5),
        ("image", TEXT, 3),
        ("has_tee", TEXT, 2),
        ({"provider_in": ["direct"]}, TEXT, 2),
        ({"model_not_in": ["anthropic/haiku"]}, TEXT, 4),
        ({"route_in": ["router/qwen/qwen3", "direct/llama/70b"]}, TEXT, 2),
        ({"family_in": ["haiku"]}, TEXT, 2),  # SPEC §5.8: the vendor prefix is not the family
        ({"tier_at_least": "standard"}, TEXT, 3),
        ({"le": {"price_in": "0.27"}}, TEXT, 2),  # a missing price fails a ceiling
        ({"gt": {"price_in": 0}}, TEXT, 5),  # and a floor
        ({"has": "price_in"}, TEXT, 5),
        ({"eq": {"quality": 80}}, TEXT, 2),
        ({"format_in": ["json"]}, TEXT, 0),
        ({"entry_in": ["prompt"]}, TEXT, 6),
        ("has_images", make_request(images=1), 3),  # needs vision too
        ({"not": "has_tee"}, make_request(format="json"), 4),
        ({"any": ["has_tee", {"provider_in": ["router"]}]}, TEXT, 6),
    ],
)
def test_filter_predicates(pred: Any, req: Any, kept: int) -> None:
    b = bind(CAT, admit({"filter": [pred]}, CAT))
    survivors, rejected = filter_routes(b, req)
    assert len(survivors) == kept
    assert len(survivors) + len(rejected) == len(CAT.routes)


leaves = st.sampled_from(
    [
        "json",
        "image",
        "has_tee",
        "has_images",
        {"has": "price_in"},
        {"le": {"price_in": "0.5"}},
        {"tier_at_least": "standard"},
        {"provider_in": ["router"]},
        {"format_in": ["json"]},
    ]
)
predicates = st.recursive(
    leaves,
    lambda kid: st.one_of(
        st.builds(lambda p: {"not": p}, kid),
        st.builds(lambda ps: {"any": ps}, st.lists(kid, min_size=1, max_size=3)),
        st.builds(lambda ps: {"all": ps}, st.lists(kid, min_size=1, max_size=3)),
    ),
    max_leaves=8,
)


@given(
    st.lists(predicates, min_size=1, max_size=4),
    st.sampled_from(
        [
            TEXT,
            make_request(format="json"),
            make_request(images=1),
        ]
    ),
)
def test_filter_over_the_population_is_filter_route_by_route(parts: Any, req: Any) -> None:
    b = bind(CAT, admit({"filter": parts}, CAT))
    top = b.policy.filter
    checks = top[1:] if top[0] == "all" else [top]
    want: tuple[list[int], list[tuple[int, Any]]] = ([], [])
    for i in range(len(b.routes)):
        reason = next((part for part in checks if not holds(part, b, i, req)), None)
        if reason is None:
            want[0].append(i)
        else:
            want[1].append((i, reason))
    assert filter_routes(b, req) == want


def test_an_undeclared_route_tier_raises_where_route_by_route_evaluation_meets_it() -> None:
    # Rank 0 (json) passes the first `any` on `json` and meets its tier `x` in the
    # second; rank 1 (no json) would meet its tier `y` in the first, after rank 0.
    routes = list(CAT.routes)
    assert [r.json for r in routes[:2]] == [True, False]
    routes[:2] = [replace(routes[0], tier="x"), replace(routes[1], tier="y")]
    odd = Catalog(tuple(routes), CAT.tiers, CAT.default_tier, CAT.fields)
    first = {"any": ["json", {"tier_at_least": "standard"}]}
    second = {"any": [{"format_in": ["json"]}, {"tier_at_least": "basic"}]}
    policy = admit({"filter": [second, first]}, CAT)
    assert policy.filter[2:] == [admit({"filter": [p]}, CAT).filter[2] for p in (first, second)]
    with pytest.raises(PolicyError) as err:
        decide(odd, policy, TEXT, SEED)
    assert (err.value.code, err.value.path) == ("POL_TIER", ())
    assert "`x`" in err.value.message


def test_rejection_reason_is_first_failing_predicate() -> None:
    b = bind(CAT, admit({"filter": ["has_tee", {"provider_in": ["router"]}]}, CAT))
    _, rejected = filter_routes(b, make_request(format="json"))
    reasons = {b.routes[i].provider + "/" + b.routes[i].model: r for i, r in rejected}
    assert reasons["direct/llama/70b"] == ["needs"]
    assert reasons["router/qwen/qwen3"] in (["has_tee"], ["provider_in", ["router"]])
    assert reasons["direct/anthropic/haiku"] == ["provider_in", ["router"]]


def test_scorers() -> None:
    s = scores({"score": {"sum": [{"neg": "price_in"}, 5]}, "filter": [{"has": "price_in"}]})
    assert s["router/qwen/qwen3"] == -150000 + 5
    s = scores({"score": {"scale": {"by": 3, "div": 2, "of": {"neg": "quality"}}}})
    assert s["router/qwen/qwen3"] == (-65 * 3) // 2  # floor, toward −∞
    s = scores({"score": {"gate": {"if": "has_tee", "then": 7}}})
    assert s["direct/llama/70b"] == 7 and s["router/qwen/qwen3"] == 0
    s = scores({"score": {"min": ["quality", 75]}})
    assert s["router/anthropic/haiku"] == 75 and s["router/qwen/qwen3"] == 65
    s = scores({"score": {"route_value": {"routes": {"router/qwen/qwen3": 9}, "default": -1}}})
    assert s["router/qwen/qwen3"] == 9 and s["direct/llama/70b"] == -1
    s = scores({"score": {"field": {"name": "price_in", "default": "5"}}})
    assert s["direct/llama/70b"] == 5_000_000


def test_normalize_population_and_degenerate_cases() -> None:
    s = scores({"score": {"normalize": {"of": "quality", "to": 100}}})
    assert s["direct/llama/70b"] == 0 and s["router/anthropic/haiku"] == 100
    assert s["router/deepseek/v3"] == (70 - 60) * 100 // 20
    one = scores(
        {
            "filter": [{"pin": "router/qwen/qwen3"}],
            "score": {"normalize": {"of": "quality", "to": 100}},
        }
    )
    assert one == {"router/qwen/qwen3": 100}
    same = scores({"score": {"normalize": {"of": 3, "to": 10}}})
    assert set(same.values()) == {10}
    b = bind(CAT, admit({}, CAT))
    assert score(["normalize", 10, ["const", 1]], b, [], TEXT) == []


def test_argmax_and_byte_tie_break() -> None:
    assert order({"score": "quality"})[:2] == ["direct/anthropic/haiku", "router/anthropic/haiku"]
    assert order({}) == sorted(order({}), key=lambda r: r.split("/", 1)[0].encode())


def test_chain_and_greybox() -> None:
    chain = ["router/qwen/qwen3", "direct/llama/70b", "router/openai/mini"]
    assert order({"select": {"chain": chain}}) == chain
    assert order({"select": {"chain": chain}}, make_request(format="json")) == [chain[0], chain[2]]
    assert order({"select": "greybox"}) == [
        "router/deepseek/v3",
        "router/qwen/qwen3",
        "router/anthropic/haiku",
        "direct/anthropic/haiku",
        "direct/llama/70b",
    ]
    assert order({"select": "greybox"}, make_request(images=2)) == [
        "router/openai/mini",
        "direct/anthropic/haiku",
        "router/anthropic/haiku",
    ]


def test_top_k_and_tiers() -> None:
    assert (
        order({"select": {"top_k": {"k": 2}}, "score": "quality"})
        == order({"score": "quality"})[:2]
    )
    tiers = {
        "select": {
            "tiers": [
                {
                    "filter": "has_tee",
                    "select": {"chain": ["direct/llama/70b", "direct/anthropic/haiku"]},
                },
                {"filter": {"tier_at_least": "standard"}},
            ]
        }
    }
    assert order(tiers) == [
        "direct/llama/70b",
        "direct/anthropic/haiku",
        "router/anthropic/haiku",
        "router/openai/mini",
    ]


def test_a_route_a_tier_cuts_stays_for_the_later_tiers() -> None:
    everything = order({"score": "quality"})
    premium_first = {
        "score": "quality",
        "select": {
            "tiers": [
                {"filter": "true", "select": {"top_k": {"k": 1}}},
                {"filter": "true"},
            ]
        },
    }
    assert order(premium_first) == everything
    chain_then_rest = {
        "score": "quality",
        "select": {
            "tiers": [
                {"filter": "true", "select": {"chain": ["direct/llama/70b"]}},
                {"filter": "true"},
            ]
        },
    }
    assert order(chain_then_rest) == ["direct/llama/70b"] + [
        r for r in everything if r != "direct/llama/70b"
    ]


@given(st.binary(min_size=1, max_size=64), st.integers(0, 40))
def test_sample_is_a_permutation_and_zero_spread_is_argmax(seed: bytes, spread: int) -> None:
    got = order({"select": {"sample": spread}, "score": "quality"}, seed=seed)
    best = order({"score": "quality"}, seed=seed)
    assert sorted(got) == sorted(best)
    if spread == 0:
        assert got == best


@given(st.binary(min_size=1, max_size=64))
def test_weighted_draws_only_positive_weights_without_replacement(seed: bytes) -> None:
    weights = {"router/qwen/qwen3": 5, "router/deepseek/v3": 1, "direct/llama/70b": 0}
    got = order({"select": {"weighted": {"route_value": {"routes": weights}}}}, seed=seed)
    assert sorted(got) == ["router/deepseek/v3", "router/qwen/qwen3"]


def test_weighted_follows_weights() -> None:
    weights = {"router/qwen/qwen3": 9, "router/deepseek/v3": 1}
    firsts = [
        order({"select": {"weighted": {"route_value": {"routes": weights}}}}, seed=bytes([n]))[0]
        for n in range(60)
    ]
    assert 40 <= firsts.count("router/qwen/qwen3") <= 60


def test_mutations() -> None:
    doc = {
        "mutate": [
            {"set": {"temperature": 1, "max_tokens": 5000}},
            {"clamp": {"max_tokens": [1, 3000]}},
            {"when": {"if": "image", "then": ["use_max_completion_tokens"]}},
            {"text_filters": ["NFKC"]},
        ],
        "max_attempts": 16,
    }
    d = decide(CAT, admit(doc, CAT), TEXT, SEED)
    for a in d.attempts:
        assert (a.params.temperature, a.params.max_tokens) == (1000, 3000)
        assert a.params.text_filters == ("NFKC",)
        assert not a.params.use_max_completion_tokens
        assert 0 <= a.params.seed < 2**53
    assert len({a.params.seed for a in d.attempts}) == len(d.attempts)


@given(st.binary(min_size=1, max_size=64))
def test_jitter_stays_in_bounds_and_varies_per_attempt(seed: bytes) -> None:
    doc = {
        "mutate": [{"jitter": {"temperature": ["-0.05", "0.05"], "max_tokens": [-10, 10]}}],
        "max_attempts": 16,
    }
    d = decide(CAT, admit(doc, CAT), make_request(temperature=20), seed)
    temps = [a.params.temperature for a in d.attempts]
    assert all(0 <= t <= 70 for t in temps)  # clamped to the parameter's range
    assert all(7990 <= a.params.max_tokens <= 8010 for a in d.attempts)


@given(st.binary(min_size=1, max_size=64))
def test_one_parameters_jitter_never_moves_anothers(seed: bytes) -> None:
    temp = {"jitter": {"temperature": ["-0.3", "0.3"]}}
    tokens = {"jitter": {"max_tokens": [-500, 500]}}
    wide = {"jitter": {"max_tokens": [-(2**32 - 1), 2**32 - 1]}}  # draws above 2^32

    def params(*mutations: Any) -> list[tuple[int, int]]:
        doc = {"mutate": list(mutations), "max_attempts": 16}
        d = decide(CAT, admit(doc, CAT), make_request(), seed)
        return [(a.params.temperature, a.params.max_tokens) for a in d.attempts]

    alone = [t for t, _ in params(temp)]
    for mix in ((temp, tokens), (tokens, temp), (tokens, temp, tokens), (wide, wide, temp)):
        assert [t for t, _ in params(*mix)] == alone
    assert [m for _, m in params(tokens)] == [m for _, m in params(temp, tokens)]


def test_bind_derives_catalog_facts_once_and_raises_the_same_every_time() -> None:
    # `bind` keeps the rank order, columns and bound checks with the catalog
    # object (Catalog.memo): a second bind, and a bind of an equal catalog built
    # afresh, must raise the same first NUM_RANGE and bind the same columns.
    routes = list(CAT.routes)
    routes[3] = replace(routes[3], priority=2**31 + 1)
    routes[1] = replace(routes[1], context=2**32 + 5)
    bad = Catalog(tuple(routes), CAT.tiers, CAT.default_tier, CAT.fields)
    reads = admit({"score": {"sum": ["priority", "context"]}}, CAT)
    again = Catalog(tuple(routes), CAT.tiers, CAT.default_tier, CAT.fields)
    raised = []
    for c in (bad, bad, again):
        with pytest.raises(PolicyError) as err:
            bind(c, reads)
        raised.append((err.value.code, err.value.path, err.value.message))
    want = ("NUM_RANGE", ("routes", routes[1].provider, routes[1].model, "context"))
    assert raised[0][:2] == want
    assert raised == [raised[0]] * 3
    ignores = admit({"score": "quality"}, CAT)
    assert bind(bad, ignores).columns == bind(again, ignores).columns


def test_bind_reads_only_the_fields_its_field_ops_name() -> None:
    # SPEC §7.2, §8: a built-in field outside the language's bounds refuses a policy
    # only when a `has`, comparison or `field` term names it; names and routes that
    # merely look like such a term (`model_in: [field, context]`) read no field.
    routes = list(CAT.routes)
    routes[1] = replace(routes[1], context=2**32 + 5, priority=2**31 + 1)
    wide = Catalog(tuple(routes), CAT.tiers, CAT.default_tier, CAT.fields)
    lookalikes = admit(
        {
            "filter": {
                "any": [
                    {"model_in": ["field", "context"]},
                    {"route_in": ["has/priority"]},
                    {"provider_in": ["ge", "context"]},
                    "json",
                ]
            },
            "score": {"route_value": {"routes": {"field/context": 2}, "default": 1}},
            "select": {
                "tiers": [
                    {
                        "filter": {"family_in": ["has", "priority"]},
                        "select": {"chain": ["le/context"]},
                    }
                ]
            },
        }
    )
    assert bind(wide, lookalikes).columns == {}
    for reads in (
        {"score": {"field": {"name": "context", "default": 1}}},
        {"filter": {"has": "priority"}},
    ):
        with pytest.raises(PolicyError) as err:
            bind(wide, admit(reads))
        assert err.value.code == "NUM_RANGE" and err.value.path[:3] == (
            "routes",
            routes[1].provider,
            routes[1].model,
        )
