"""Cascade (§10): classification table, actions, and the bound on provider calls."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.policies import SEED, catalog

from genvm_policy.authoring.admission import admit
from genvm_policy.core.cascade import Failure, Success, classify, run
from genvm_policy.core.decision import Attempt, decide
from genvm_policy.core.policy import CLASSES
from genvm_policy.core.request import make_request

CAT = catalog()


@pytest.mark.parametrize(
    ("failure", "cls"),
    [
        (Failure("status", 429), "rate_limited"),
        (Failure("status", 408), "timeout"),
        (Failure("status", 503), "unavailable"),
        (Failure("status", 504), "timeout"),
        (Failure("status", 529), "unavailable"),
        (Failure("READING_BODY", 502), "unavailable"),
        (Failure("READING_BODY", 400), "bad_request"),
        (Failure("send_timeout"), "timeout"),
        (Failure("status", 400, "context_length_exceeded"), "context_overflow"),
        (Failure("status", 413, "request_too_large"), "context_overflow"),
        (Failure("status", 400, "content_filter"), "content_filter"),
        (Failure("status", 403, "content_policy_violation"), "content_filter"),
        (Failure("status", 429, "rate_limit_exceeded"), "rate_limited"),
        (Failure("status", 401), "auth"),
        (Failure("status", 403), "auth"),
        (Failure("status", 400), "bad_request"),
        (Failure("status", 404), "not_found"),
        (Failure("status", 500), "server"),
        (Failure("context_overflow", 400), "context_overflow"),
        (Failure("content_filter", 400), "content_filter"),
        (Failure("network"), "network"),
        (Failure("non_user"), "non_user"),
        (Failure("status", 418), "unknown"),
        (Failure("weird"), "unknown"),
    ],
)
def test_classification(failure: Failure, cls: str) -> None:
    assert classify(failure) == cls


def scripted(outcomes: dict[str, list[Any]]) -> tuple[Any, list[str]]:
    calls: list[str] = []

    def call(a: Attempt) -> Success | Failure:
        key = f"{a.provider}/{a.model}"
        calls.append(key)
        queue: list[Success | Failure] = outcomes.get(key, [Success(key)])
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return call, calls


def plan(doc: dict[str, Any]) -> Any:
    return decide(CAT, admit({"select": {"chain": CHAIN}, **doc}, CAT), make_request(), SEED)


CHAIN = ["router/deepseek/v3", "router/qwen/qwen3", "direct/anthropic/haiku", "direct/llama/70b"]


def test_default_plan_falls_through_on_overload_only() -> None:
    call, calls = scripted({CHAIN[0]: [Failure("status", 503)]})
    out = run(plan({}), call)
    assert out.ok and out.data == CHAIN[1] and calls == CHAIN[:2]
    call, calls = scripted({CHAIN[0]: [Failure("status", 400)]})
    out = run(plan({}), call)
    assert not out.ok and out.error_class == "bad_request" and out.code == "abort"
    assert calls == CHAIN[:1]


def test_exhaustion_is_no_provider_for_prompt() -> None:
    call, calls = scripted({k: [Failure("status", 429)] for k in CHAIN})
    out = run(plan({}), call)
    assert (out.ok, out.code, out.error_class) == (False, "NO_PROVIDER_FOR_PROMPT", "rate_limited")
    assert calls == CHAIN


def test_overloaded_is_the_group_and_a_class_entry_wins() -> None:
    d = plan({"on_failure": {"overloaded": "abort", "rate_limited": "skip_provider"}})
    plan_of = dict(d.on_failure)
    assert plan_of["rate_limited"] == ["skip_provider"]
    assert plan_of["unavailable"] == plan_of["timeout"] == ["abort"]
    call, calls = scripted({CHAIN[0]: [Failure("status", 429)]})
    assert run(d, call).ok and calls == [CHAIN[0], CHAIN[2]]


def test_retry_after_is_honoured_up_to_the_backoff_cap() -> None:
    doc = {"on_failure": {"rate_limited": {"retry": {"attempts": 2, "backoff_ms": 2000}}}}
    waits: list[int] = []
    call, calls = scripted({CHAIN[0]: [Failure("status", 429, None, 1000), Success("ok")]})
    assert run(plan(doc), call, waits.append).ok and waits == [1000]
    assert calls == [CHAIN[0]] * 2
    # Asked to wait longer than the cap: no early retry, the follow-up at once.
    waits = []
    call, calls = scripted({CHAIN[0]: [Failure("status", 429, None, 3000)]})
    assert run(plan(doc), call, waits.append).ok and waits == [] and calls == CHAIN[:2]


def test_retry_backoff_then_follow_up() -> None:
    waits: list[int] = []
    call, calls = scripted({CHAIN[0]: [Failure("status", 500)]})
    doc = {"on_failure": {"server": {"retry": {"attempts": 2, "backoff_ms": 250, "then": "next"}}}}
    out = run(plan(doc), call, waits.append)
    assert out.ok and calls == [CHAIN[0]] * 3 + [CHAIN[1]] and waits == [250, 250]
    assert [s.action for s in out.trace] == ["retry", "retry", "next", "done"]


def test_skip_provider_and_next_same_family() -> None:
    call, calls = scripted({CHAIN[0]: [Failure("status", 401)]})
    run(plan({"on_failure": {"auth": "skip_provider"}}), call)
    assert calls == [CHAIN[0], CHAIN[2]]
    chain = ["router/anthropic/haiku", "router/qwen/qwen3", "direct/anthropic/haiku"]
    call, calls = scripted({chain[0]: [Failure("status", 500)]})
    d = decide(
        CAT,
        admit({"select": {"chain": chain}, "on_failure": {"server": "next_same_family"}}, CAT),
        make_request(),
        SEED,
    )
    assert run(d, call).ok and calls == [chain[0], chain[2]]


actions = st.sampled_from(["next", "next_same_family", "skip_provider", "abort"])
any_action = actions | st.builds(
    lambda n, then: {"retry": {"attempts": n, "then": then}}, st.integers(1, 5), actions
)


@given(
    st.dictionaries(st.sampled_from(CLASSES), any_action),
    st.integers(1, 16),
    st.lists(st.sampled_from([400, 401, 404, 429, 500, 503]), min_size=1, max_size=8),
)
def test_calls_never_exceed_max_attempts(on_failure: Any, cap: int, statuses: list[int]) -> None:
    d = decide(
        CAT, admit({"on_failure": on_failure, "max_attempts": cap}, CAT), make_request(), SEED
    )
    count = 0

    def call(a: Attempt) -> Failure:
        nonlocal count
        count += 1
        return Failure("status", statuses[count % len(statuses)])

    out = run(d, call)
    assert not out.ok and count == len(out.trace) <= min(cap, 6 * len(d.attempts))
