"""The hook when host functions misbehave mid-call, and its one GenVM-view projection.

Contract: docs/HOOK.md §8 (one decision record per call), §9 (failures), §3 and §4
(the GenVM view); SPEC §5.6. Every scenario runs the real bundle under the GenVM
fake in all three profiles (`v1`, `v2-mid`, `v2-new`) and recomputes each record
with the reference (`hooknode.verify`, i.e. `hookmodel.check_record`). Rules:
1. A host function that raises during a call (`filter_text`, `sleep_seconds` in a
   retry's pause, `as_user_error`) ends the call with that very error, after one
   record with outcome `reraised` whose steps are the plan's trace so far.
2. A `log_json` that raises while that record is logged is not retried: the
   original error is re-raised.
3. An `as_user_error` that answers with a non-table value is an undecodable
   error, class `unknown`: the plan applies (by default `abort`, the provider's
   own error re-raised) and the record is logged.
4. A provider call that answers nil or a non-table is returned untouched for
   GenVM to judge, with the record's outcome `ok`.
5. `catalog.view_from_providers` in the runtime is the reference's
   `view_from_providers` byte for byte, and is what the stock fallback's view
   identity is computed over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.drivers import driver
from support.genvmfake import PROFILES, StatusNotOk
from support.hooknode import PROMPT, SALT, Node, live_view, records, verify

from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.identity import identity
from genvm_policy.node.replay import Record, check


@pytest.fixture(params=PROFILES)
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Node:
    return Node(tmp_path, request.param)


def first_two(node: Node) -> list[tuple[str, str]]:
    """The first two routes a fresh VM tries for PROMPT when the first is overloaded."""
    vm = node.vm()
    probe = vm.session().call("ExecPrompt", PROMPT)
    first = verify(node, vm, probe)["attempts"][0]
    vm = node.vm()
    vm.script(first["provider"], first["model"], StatusNotOk(503))
    rec = verify(node, vm, vm.session().call("ExecPrompt", PROMPT))
    return [(a["provider"], a["model"]) for a in rec["attempts"]]


def steps(rec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    attempts = rec["attempts"] if isinstance(rec["attempts"], list) else []
    return [(a["provider"], a["model"], a["result"], a["action"]) for a in attempts]


def replayed(node: Node, rec: dict[str, Any]) -> str | None:
    """What `genvm-policy replay` says of the record (None: agreed)."""
    return check(Record(1, rec), node.catalog, node.policy, SALT, node.catalog).differs


# -- N1: a host function raises mid-call (rules 1, 2) ------------------------------------


def test_filter_text_raising_before_the_first_call(node: Node) -> None:
    vm = node.vm()
    vm.lua.execute("__dflt.filter_text = function() error('filter_text broke', 0) end")
    result = vm.session().call("ExecPrompt", PROMPT)
    assert (result.kind, result.message, result.requests) == (
        "fatal_error",
        "filter_text broke",
        [],
    )
    if node.profile != "v1":
        # The newer line's stock prompt filter runs before anything is decided (HOOK.md §6).
        assert records(result.logs) == []
        return
    rec = verify(node, vm, result)
    assert rec["outcome"] == {"kind": "reraised"} and steps(rec) == []
    assert replayed(node, rec) is None


def test_host_error_of_filter_text_on_the_second_attempt_is_reraised_untouched(node: Node) -> None:
    (p1, m1), _ = first_two(node)
    vm = node.vm()
    vm.script(p1, m1, StatusNotOk(503))
    # From the second attempt on, the filter raises a real host error value (a
    # malformed `user_error`), in every profile (v1 has no filter of its own; the
    # newer line's stock prompt filter is one more call before the first attempt).
    passes = 1 if node.profile == "v1" else 2
    vm.lua.execute(
        "local raise, n = __dflt.user_error, 0\n"
        "__dflt.filter_text = function(s)\n"
        "  n = n + 1\n"
        f"  if n <= {passes} then return s end\n"
        "  return raise({}) end"
    )
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "fatal_error" and not result.causes
    assert result.message.endswith("missing `causes`"), result.message
    rec = verify(node, vm, result)
    assert rec["outcome"] == {"kind": "reraised"}
    assert steps(rec) == [(p1, m1, "unavailable", "next")]
    assert len(result.requests) == 1 and replayed(node, rec) is None


def test_sleep_seconds_raising_in_a_retry_pause(node: Node) -> None:
    (p1, m1), _ = first_two(node)
    vm = node.vm()
    vm.script(p1, m1, StatusNotOk(500))
    vm.lua.execute("__dflt.sleep_seconds = function() error('sleep_seconds broke', 0) end")
    result = vm.session().call("ExecPrompt", PROMPT)
    assert (result.kind, result.message) == ("fatal_error", "sleep_seconds broke")
    rec = verify(node, vm, result)
    assert rec["outcome"] == {"kind": "reraised"}
    assert steps(rec) == [(p1, m1, "server", "retry")] and len(result.requests) == 1
    assert replayed(node, rec) is None


def test_as_user_error_raising_leaves_the_step_undecoded(node: Node) -> None:
    (p1, m1), (p2, m2) = first_two(node)
    vm = node.vm()
    vm.script(p1, m1, StatusNotOk(503))
    vm.script(p2, m2, StatusNotOk(429))
    # The first decoding works, the second raises.
    vm.lua.execute(
        "local real, n = __dflt.as_user_error, 0\n"
        "__dflt.as_user_error = function(e)\n"
        "  n = n + 1\n"
        "  if n == 1 then return real(e) end\n"
        "  error('as_user_error broke', 0) end"
    )
    result = vm.session().call("ExecPrompt", PROMPT)
    assert (result.kind, result.message) == ("fatal_error", "as_user_error broke")
    rec = verify(node, vm, result)
    assert rec["outcome"] == {"kind": "reraised"}
    assert steps(rec) == [(p1, m1, "unavailable", "next"), (p2, m2, "non_user", "reraise")]
    assert replayed(node, rec) is None


def test_log_json_raising_on_the_reraised_record_is_not_retried(node: Node) -> None:
    vm = node.vm()
    vm.lua.execute(
        "__log_calls = 0\n"
        "__dflt.log_json = function() __log_calls = __log_calls + 1\n"
        "  error('log broke', 0) end\n"
        "__dflt.filter_text = function() error('filter_text broke', 0) end"
    )
    result = vm.session().call("ExecPrompt", PROMPT)
    assert (result.kind, result.message) == ("fatal_error", "filter_text broke")
    # In the newer line the stock prompt filter raises before any record exists.
    want = 1 if node.profile == "v1" else 0
    assert vm.lua.globals().__log_calls == want and records(result.logs) == []


def test_replay_refuses_a_reraised_record_that_is_not_the_plans_prefix(node: Node) -> None:
    (p1, m1), _ = first_two(node)
    vm = node.vm()
    vm.script(p1, m1, StatusNotOk(500))
    vm.lua.execute("__dflt.sleep_seconds = function() error('sleep_seconds broke', 0) end")
    rec = verify(node, vm, vm.session().call("ExecPrompt", PROMPT))
    wrong_action = {**rec, "attempts": [{**rec["attempts"][0], "action": "next"}]}
    stranger = {"provider": "nowhere", "model": m1, "result": "ok", "action": "done"}
    extra_step = {**rec, "attempts": [*rec["attempts"], stranger]}
    undecoded_first = {
        **rec,
        "attempts": [
            {"provider": p1, "model": m1, "result": "non_user", "action": "reraise"},
            *rec["attempts"],
        ],
    }
    for bad in (wrong_action, extra_step, undecoded_first):
        assert replayed(node, bad) == "attempts"


# -- N2: an odd decoding (rule 3) -------------------------------------------------------


@pytest.mark.parametrize("value", ["42", "false", "print"])
def test_as_user_error_giving_a_non_table_is_undecodable(node: Node, value: str) -> None:
    (p1, m1), _ = first_two(node)
    vm = node.vm()
    vm.script(p1, m1, StatusNotOk(503))
    vm.lua.execute(f"__dflt.as_user_error = function() return {value} end")
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "fatal_error" and result.causes == ["STATUS_NOT_OK"]
    rec = verify(node, vm, result)
    assert rec["outcome"] == {"kind": "abort", "class": "unknown"}
    assert steps(rec) == [(p1, m1, "unknown", "abort")] and rec["attempts"][0]["kind"] == "unknown"


# -- N3: a provider answer that is not a table (rule 4) -----------------------------------


@pytest.mark.parametrize("answer", ["nil", "42", "false", "'bare'"])
def test_a_non_table_answer_is_returned_for_genvm_to_judge(node: Node, answer: str) -> None:
    vm = node.vm()
    vm.lua.execute(driver("answer_override").decode(), answer)
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "fatal_error" and not result.causes
    assert "attempt to index" not in result.message
    rec = verify(node, vm, result)
    assert rec["outcome"] == {"kind": "ok"} and [s[2:] for s in steps(rec)] == [("ok", "done")]


# -- one GenVM-view projection (rule 5) ------------------------------------------------


def test_runtime_view_from_providers_is_the_references(node: Node) -> None:
    vm = node.vm(seed=3)
    got = bytes.fromhex(vm.lua.execute(driver("view_probe").decode()))
    assert decode(got) == live_view(vm) and got == encode(live_view(vm))


def test_stock_view_identity_is_over_the_runtimes_projection(node: Node) -> None:
    node.policy_path.unlink()
    vm = node.vm(drop=(), seed=1)
    rec = verify(node, vm, vm.session().call("ExecPrompt", PROMPT))
    assert rec["mode"] == "stock"
    assert rec["identities"]["view"] == identity("genvm-view", live_view(vm))
