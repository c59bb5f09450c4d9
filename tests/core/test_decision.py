"""Decision (§9): purity, invariances, identities, and sound interval analysis."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.policies import ROWS, SEED, catalog

from genvm_policy.authoring.admission import admit
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.decision import attempt_params, decide, decision_report, decision_value
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.identity import identity
from genvm_policy.core.interpreter import bind
from genvm_policy.core.numeric import MAX
from genvm_policy.core.request import make_request

CAT = catalog()
JITTERED = {
    "score": {"sum": [{"normalize": {"of": "quality", "to": 50}}, {"neg": "price_in"}]},
    "select": {"sample": 2},
    "mutate": [{"jitter": {"temperature": ["-0.1", "0.1"]}}],
}


def test_identity_covers_the_record_and_nothing_recomputable() -> None:
    d = decide(CAT, admit(JITTERED, CAT), make_request(), SEED)
    assert d.identity == identity("decision", decision_value(d))
    value = decision_value(d)
    assert set(value) == {"version", "identities", "max_attempts", "routes"}
    assert value["routes"] == [[a.provider, a.model] for a in d.attempts]
    report = decision_report(d)
    assert report["identities"]["decision"] == d.identity
    assert {"rejected", "scores", "attempts"} <= set(report)
    assert [a["params"] for a in report["attempts"]] == [a.params.value() for a in d.attempts]


@given(st.binary(min_size=1, max_size=64), st.permutations(range(len(ROWS))))
def test_attempt_params_are_computed_alone_in_any_order(seed: bytes, order: list[int]) -> None:
    d = decide(CAT, admit({**JITTERED, "max_attempts": 16}, CAT), make_request(), seed)
    planned = d.attempts
    assert len(planned) == len(d.routes) == len(CAT.routes)
    for a in order:
        assert attempt_params(d, a) == planned[a].params
    assert len({p.params.seed for p in planned}) == len(planned)


def test_identity_ignores_params_but_not_route_order() -> None:
    policy = admit({"mutate": [{"jitter": {"temperature": ["-0.5", "0.5"]}}]}, CAT)
    a = decide(CAT, policy, make_request(), SEED)
    b = decide(CAT, admit({}, CAT), make_request(), SEED)
    assert a.routes == b.routes and a.identity != b.identity  # policy identity differs
    assert a.attempts[0].params != b.attempts[0].params
    cheap = decide(CAT, admit({"score": {"neg": "price_in"}}, CAT), make_request(), SEED)
    dear = decide(CAT, admit({"score": "price_in"}, CAT), make_request(), SEED)
    assert cheap.routes != dear.routes
    assert decision_value(cheap)["routes"] == [[p, m] for p, m, _ in cheap.routes]


def test_seed_changes_the_decision_and_is_committed() -> None:
    a = decide(CAT, admit(JITTERED, CAT), make_request(), SEED)
    b = decide(CAT, admit(JITTERED, CAT), make_request(), bytes(32))
    assert a.seed_id != b.seed_id and a.identity != b.identity
    assert a == decide(CAT, admit(JITTERED, CAT), make_request(), SEED)


@given(st.permutations(range(len(ROWS))), st.binary(min_size=1, max_size=64))
def test_invariant_under_catalog_input_order(perm: list[int], seed: bytes) -> None:
    rows = [ROWS[i] for i in perm]
    shuffled = catalog(rows)
    scrambled = Catalog(tuple(CAT.routes[i] for i in perm), CAT.tiers, CAT.default_tier, CAT.fields)
    policy = admit(JITTERED, CAT)
    want = decide(CAT, policy, make_request(format="json"), seed)
    assert decide(shuffled, policy, make_request(format="json"), seed) == want
    assert decide(scrambled, policy, make_request(format="json"), seed).attempts == want.attempts


def _respell(doc: dict[str, Any], perm: list[int]) -> dict[str, Any]:
    terms = [doc["filter"][i % len(doc["filter"])] for i in perm]
    return {**doc, "filter": [{"all": terms[:1]}, "true", *terms[1:], "needs"]}


@given(st.permutations(range(3)), st.binary(min_size=1, max_size=8))
def test_invariant_under_respellings(perm: list[int], seed: bytes) -> None:
    doc = {**JITTERED, "filter": ["json", {"le": {"price_in": "1.0"}}, {"not": {"not": "json"}}]}
    a = decide(CAT, admit(doc, CAT), make_request(), seed)
    b = decide(CAT, admit(_respell(doc, perm), CAT), make_request(), seed)
    assert a == b


@given(st.binary(min_size=1, max_size=64), st.sampled_from(["text", "json", "bool"]))
def test_a_bound_passed_in_decides_as_binding_does(seed: bytes, fmt: str) -> None:
    policy, req = admit({**JITTERED, "filter": ["json"]}, CAT), make_request(format=fmt)
    bound = bind(CAT, policy)
    d = decide(CAT, policy, req, seed, bound=bound)
    want = decide(CAT, policy, req, seed)
    assert d == want and d.bound is bound
    assert (d.rejected, d.scores, d.attempts) == (want.rejected, want.scores, want.attempts)
    assert decision_report(d) == decision_report(want)


def test_a_bound_of_another_policy_is_refused() -> None:
    bound = bind(CAT, admit({}, CAT))
    with pytest.raises(ValueError, match="another policy"):
        decide(CAT, admit(JITTERED, CAT), make_request(), SEED, bound=bound)


def test_empty_survivors_give_no_attempts() -> None:
    d = decide(CAT, admit({"filter": ["false"]}, CAT), make_request(), SEED)
    assert d.attempts == () and len(d.rejected) == len(CAT.routes)


# -- interval analysis is sound ----------------------------------------------
fields = st.sampled_from(["price_in", "price_out", "context", "priority", "quality", 7, -3])
scorers = st.recursive(
    fields,
    lambda kid: st.one_of(
        st.builds(lambda s: {"neg": s}, kid),
        st.builds(
            lambda k, d, s: {"scale": {"by": k, "div": d, "of": s}},
            st.integers(-(10**6), 10**6),
            st.integers(1, 10**6),
            kid,
        ),
        st.builds(lambda xs: {"sum": xs}, st.lists(kid, min_size=1, max_size=3)),
        st.builds(lambda xs: {"max": xs}, st.lists(kid, min_size=1, max_size=3)),
        st.builds(lambda r, s: {"normalize": {"of": s, "to": r}}, st.integers(1, 10**6), kid),
        st.builds(lambda s: {"gate": {"if": "has_tee", "then": s}}, kid),
    ),
    max_leaves=6,
)
prices = st.one_of(st.none(), st.integers(0, 10**6).map(str))


@given(scorers, st.lists(st.tuples(prices, st.integers(0, 100)), min_size=6, max_size=6))
def test_admitted_scorers_never_leave_the_bound(score: Any, facts: Any) -> None:
    rows = [
        (*row[:6], price, row[7], quality, row[9])
        for row, (price, quality) in zip(ROWS, facts, strict=True)
    ]
    cat = catalog(rows)
    try:
        policy = admit({"score": score}, cat)
    except PolicyError as err:
        assert err.code == "POL_BOUND"
        return
    d = decide(cat, policy, make_request(), SEED)  # would raise NUM_RANGE if unsound
    assert all(-MAX <= s <= MAX for _, _, s in d.scores)
