"""The bundled GenVM hook under the GenVM fake, in every profile (docs/HOOK.md).

Every VM runs the real bundle (`bundle.build_hook`) in a fresh sandboxed lupa Lua 5.3
state with a compiled policy and a salt in a temporary node folder. Every decision
record the hook logs is recomputed by the Python model (`hookmodel.check_record`):
the hook's decision identity must equal the reference's for the same inputs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from support.genvmfake import (
    PROFILES,
    Call,
    FakeGenVM,
    PlainError,
    ReadingBody,
    SendingRequest,
    StatusNotOk,
    Success,
)
from support.genvmfake.values import Rat
from support.hooknode import (
    FAULTS,
    KEYS,
    POLICY,
    PROMPT,
    TEMPLATES,
    YAML,
    Node,
    line,
    live_view,
    verify,
)

from genvm_policy.authoring.admission import admit
from genvm_policy.core.catalog import genvm_view
from genvm_policy.node.bundle import build_hook
from genvm_policy.node.compile import compile_policy
from genvm_policy.node.hookmodel import (
    excluded_routes,
)

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 8


def first_route(node: Node, entry: str, args: dict[str, Any], **kw: Any) -> tuple[str, str]:
    """The route a fresh VM tries first for a session's first call (decisions replay)."""
    vm = node.vm(**kw)
    result = vm.session().call(entry, args)
    rec = verify(node, vm, result)
    return rec["attempts"][0]["provider"], rec["attempts"][0]["model"]


@pytest.fixture(params=PROFILES)
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Node:
    return Node(tmp_path, request.param)


# -- answers of every kind ------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_prompt_answers_with_the_provider_result(node: Node, fmt: str) -> None:
    vm = node.vm()
    result = vm.session().call("ExecPrompt", {**PROMPT, "response_format": fmt})
    assert result.kind == "ok", result.message
    rec = verify(node, vm, result)
    assert rec["mode"] == "policy" and rec["outcome"] == {"kind": "ok"}
    assert rec["request"]["format"] == fmt
    (call,) = result.requests
    assert call.request is not None and call.request["format"] == fmt
    expected_tokens = 1000 if node.profile == "v1" else 8000
    assert call.request["max_tokens"] == expected_tokens
    if fmt == "json":  # the newest line answers JSON as text; returned untouched either way
        assert isinstance(result.data, str if node.profile == "v2-new" else dict)
    else:
        assert isinstance(result.data, str) and result.data.startswith("text answer from")


def test_image_prompt_goes_to_an_image_route(node: Node) -> None:
    vm = node.vm()
    result = vm.session().call("ExecPrompt", {**PROMPT, "images": [PNG]})
    assert result.kind == "ok", result.message
    rec = verify(node, vm, result)
    route = node.catalog.route(rec["attempts"][0]["provider"], rec["attempts"][0]["model"])
    assert route is not None and route.image and rec["request"]["images"] == 1


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_each_template(node: Node, template: str) -> None:
    vm = node.vm()
    result = vm.session().call("ExecPromptTemplate", {"template": template, **TEMPLATES[template]})
    assert result.kind == "ok", result.message
    rec = verify(node, vm, result)
    want = "text" if template == "EqNonComparativeLeader" else "bool"
    assert rec["request"]["format"] == want
    assert isinstance(result.data, str if want == "text" else bool)


def test_the_request_carries_the_role_genvm_gives(node: Node) -> None:
    vm = node.vm()
    for role in ("leader", "validator"):
        result = vm.session(role=role).call("ExecPrompt", PROMPT)
        rec = verify(node, vm, result)
        # Only the newest V2 line says which part this node plays.
        assert rec["request"]["role"] == (role if node.profile == "v2-new" else "unknown")


def test_top_p_is_sent_only_where_the_line_passes_extra(node: Node) -> None:
    node.policy = admit(
        {**POLICY, "mutate": [*POLICY["mutate"], {"set": {"top_p": "0.9"}}]}, node.catalog
    )
    node.policy_path.write_bytes(compile_policy(node.catalog, node.policy))
    vm = node.vm()
    result = vm.session().call("ExecPrompt", PROMPT)
    verify(node, vm, result)
    prompt = result.requests[0].raw["prompt"]
    if node.profile == "v2-new":
        assert prompt["extra"] == {"top_p": 0.9}
    else:
        assert "extra" not in prompt  # the older lines have no `extra`: documented as dropped


# -- the failure cascade ------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 503, 504, 529])
@pytest.mark.parametrize("shape", [StatusNotOk, ReadingBody])
def test_overloaded_status_falls_through(
    node: Node, status: int, shape: Callable[..., Any]
) -> None:
    provider, model = first_route(node, "ExecPrompt", PROMPT)
    vm = node.vm()
    vm.script(provider, model, shape(status))
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "ok", result.message
    rec = verify(node, vm, result)
    group = {408: "timeout", 429: "rate_limited", 504: "timeout"}.get(status, "unavailable")
    assert [a["result"] for a in rec["attempts"]] == [group, "ok"]
    assert rec["attempts"][0]["status"] == status


@pytest.mark.parametrize(
    ("outcome", "cls", "logged"),
    [
        (
            StatusNotOk(400, '{"error": {"code": "context_length_exceeded", "message": "x"}}'),
            "context_overflow",
            {"code": "context_length_exceeded"},
        ),
        (
            StatusNotOk(400, '{"type": "error", "error": {"type": "request_too_large"}}'),
            "context_overflow",
            {"code": "request_too_large"},
        ),
        (
            StatusNotOk(400, ' {"error": {"code": "content_filter"}}'),
            "content_filter",
            {"code": "content_filter"},
        ),
        (StatusNotOk(400, '{"error": {"code": "invalid_value"}}'), "bad_request", {}),
        (StatusNotOk(400, "<html>content_filter</html>"), "bad_request", {}),
        (ReadingBody(502), "unavailable", {"kind": "READING_BODY"}),
        (
            SendingRequest("error sending request: operation timed out"),
            "timeout",
            {"kind": "send_timeout"},
        ),
        (
            SendingRequest("error sending request: connection refused"),
            "network",
            {"kind": "network"},
        ),
    ],
)
def test_the_classifier_reads_body_and_send_error(
    node: Node, outcome: Any, cls: str, logged: dict[str, str]
) -> None:
    provider, model = first_route(node, "ExecPrompt", PROMPT)
    vm = node.vm()
    vm.script(provider, model, outcome)
    result = vm.session().call("ExecPrompt", PROMPT)
    rec = verify(node, vm, result)
    first = rec["attempts"][0]
    assert first["result"] == cls and {k: first.get(k) for k in logged} == logged
    assert "code" in first or not logged.get("code")


def test_retry_after_is_logged_and_honoured(node: Node) -> None:
    provider, model = first_route(node, "ExecPrompt", PROMPT)
    vm = node.vm()
    vm.script(provider, model, StatusNotOk(500, headers=(("retry-after", "0"),)))
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "ok" and result.sleeps == [0]
    rec = verify(node, vm, result)
    assert rec["attempts"][0]["retry_after_ms"] == 0
    # Longer than the plan's 250 ms cap: no early retry, the follow-up at once.
    vm = node.vm()
    vm.script(provider, model, StatusNotOk(500, headers=(("retry-after", "2"),)))
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "ok" and result.sleeps == []
    rec = verify(node, vm, result)
    assert rec["attempts"][0]["retry_after_ms"] == 2000
    assert [(a["result"], a["action"]) for a in rec["attempts"]] == [
        ("server", "next"),
        ("ok", "done"),
    ]


def test_server_error_retries_after_a_pause(node: Node) -> None:
    provider, model = first_route(node, "ExecPrompt", PROMPT)
    vm = node.vm()
    vm.script(provider, model, StatusNotOk(500))
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "ok" and result.sleeps == [0.25]
    rec = verify(node, vm, result)
    assert [(a["result"], a["action"]) for a in rec["attempts"]] == [
        ("server", "retry"),
        ("ok", "done"),
    ]


@pytest.mark.parametrize(
    "outcome", [StatusNotOk(400), SendingRequest("error sending request: connection refused")]
)
def test_bad_request_and_network_error_stop(node: Node, outcome: Any) -> None:
    provider, model = first_route(node, "ExecPrompt", PROMPT)
    vm = node.vm()
    vm.script(provider, model, outcome)
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "fatal_error" and len(result.requests) == 1
    assert result.causes and result.causes[0] in ("STATUS_NOT_OK", "SENDING_REQUEST")
    rec = verify(node, vm, result)
    assert rec["outcome"]["kind"] == "abort"


def test_non_module_error_is_reraised(node: Node) -> None:
    provider, model = first_route(node, "ExecPrompt", PROMPT)
    vm = node.vm()
    vm.script(provider, model, PlainError("boom from the host"))
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "fatal_error" and "boom from the host" in (result.message or "")
    rec = verify(node, vm, result)
    assert rec["outcome"] == {"kind": "reraised"}


def test_no_route_left_is_the_fatal_no_provider_error(node: Node) -> None:
    vm = node.vm()
    for name, backend in vm.config.backends.items():
        for mid in backend.models:
            vm.script(name, mid, StatusNotOk(503))
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "fatal_error" and result.causes == ["NO_PROVIDER_FOR_PROMPT"]
    rec = verify(node, vm, result)
    assert rec["outcome"] == {"kind": "no_provider", "class": "unavailable"}


@pytest.mark.parametrize(
    ("remaining", "timeout"), [(0, None), (500, "short"), (20_000, 30.0), (40_001, None)]
)
def test_budget_timeout_and_exhaustion(node: Node, remaining: int, timeout: Any) -> None:
    """The session's fake gas gives 1000 gen per second: stock's timeout is remaining/1000
    x 3/2 s, dropped at 0 and above 60 s, and under 1 s the call exhausts."""
    vm = node.vm()
    result = vm.session().call("ExecPrompt", PROMPT, remaining_gen=remaining)
    rec = verify(node, vm, result)
    if node.profile == "v2-new" and timeout == "short":
        assert (result.kind, result.data, result.requests) == ("ok", "", [])
        assert rec["outcome"] == {"kind": "exhausted"}
        return
    # no `exhaust` in the older lines: the host enforces the budget, no timeout is sent
    assert result.kind == "ok" and rec["outcome"] == {"kind": "ok"}
    (call,) = result.requests
    assert call.request is not None
    want = timeout if node.profile == "v2-new" and timeout != "short" else None
    assert call.request.get("timeout") == want


# -- availability and install faults --------------------------------------------------


def test_backend_without_key_is_unavailable(node: Node) -> None:
    dropped = KEYS[line(node.profile)][0]
    vm = node.vm(drop=(dropped,))
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "ok", result.message
    rec = verify(node, vm, result)
    want = excluded_routes(genvm_view(node.catalog), live_view(vm))
    assert ([tuple(r) for r in rec["unavailable"]], rec["drift"]) == (want[0], {})
    gone = {p for p, _ in rec["unavailable"]}
    assert gone and gone.isdisjoint(vm.config.backends)
    assert rec["attempts"][0]["provider"] not in gone


def test_changed_capabilities_are_drift(node: Node, tmp_path: Path) -> None:
    edited = tmp_path / "compiled-from.yaml"
    text = YAML[line(node.profile)].read_text(encoding="utf-8")
    edited.write_text(text.replace("supports_json: true", "supports_json: false", 1), "utf-8")
    node = Node(tmp_path, node.profile, source=edited)
    vm = node.vm()
    assert len([r for r in vm.logs if r.message == "genvm-policy drift"]) == 1
    s = vm.session()
    for fmt in ("text", "json"):
        result = s.call("ExecPrompt", {**PROMPT, "response_format": fmt})
        rec = verify(node, vm, result)
        assert [tuple(r) for r in rec["drift"]] == excluded_routes(
            genvm_view(node.catalog), live_view(vm)
        )[1]
        assert len(rec["drift"]) == 1
        assert tuple(rec["drift"][0]) not in {(a["provider"], a["model"]) for a in rec["attempts"]}
    assert len([r for r in vm.logs if r.message == "genvm-policy drift"]) == 1


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_install_fault_falls_back_to_stock(node: Node, fault: str) -> None:
    FAULTS[fault](node)
    vm = node.vm()
    warnings = [r for r in vm.logs if r.message == "genvm-policy fallback"]
    assert [w.fields["fault"] for w in warnings] == [fault]
    session = vm.session()
    for _ in range(2):
        result = session.call("ExecPrompt", PROMPT)
        assert result.kind in ("ok", "fatal_error")
        rec = verify(node, vm, result)
        assert rec["mode"] == "stock" and rec["fault"] == fault
        assert rec["salt"] == ("none" if fault == "salt_missing" else "node")
    assert len([r for r in vm.logs if r.message == "genvm-policy fallback"]) == 1


# -- seeds, sessions, lifecycle -----------------------------------------------------


def test_two_calls_differ_and_a_replayed_session_decides_alike(node: Node) -> None:
    def session_records(seed: int) -> list[dict[str, Any]]:
        vm = node.vm(seed=seed)
        s = vm.session()
        return [verify(node, vm, s.call("ExecPrompt", PROMPT)) for _ in range(2)]

    first, second = session_records(0), session_records(5)
    assert first[0]["seed"] != first[1]["seed"]
    assert [r["material"]["call"] for r in first] == [0, 1]
    assert [r["identities"]["decision"] for r in first] == [
        r["identities"]["decision"] for r in second
    ]


def test_missing_tx_id_still_gives_distinct_seeds(node: Node) -> None:
    vm = node.vm()
    s = vm.session(host_data={"tx_id": None})
    recs = [verify(node, vm, s.call("ExecPrompt", PROMPT)) for _ in range(2)]
    assert "tx_id" not in recs[0]["material"] and recs[0]["seed"] != recs[1]["seed"]
    assert len([r for r in vm.logs if "no tx_id" in r.message]) == 1


def test_setup_and_teardown(node: Node) -> None:
    vm = node.vm()
    s = vm.session()
    setup = s.setup()
    result = s.call("ExecPrompt", PROMPT)
    teardown = s.teardown()
    assert result.kind == "ok"
    verify(node, vm, result)
    if node.profile == "v2-new":
        assert setup is not None and setup.kind == "ok"
        assert teardown is not None and teardown.kind == "ok"
    else:
        assert setup is None and teardown is None


def test_interleaved_sessions_do_not_cross_talk(node: Node) -> None:
    vm = node.vm()
    a, b = vm.session(), vm.session()
    a.call("ExecPrompt", PROMPT)  # session a is one call ahead
    ca, cb = a.begin("ExecPrompt", PROMPT), b.begin("ExecPrompt", PROMPT)
    while not (ca.done and cb.done):
        for c in (ca, cb):
            if not c.done:
                c.step()
    ra, rb = ca.run(), cb.run()
    assert ra.kind == rb.kind == "ok"
    rec_a, rec_b = verify(node, vm, ra), verify(node, vm, rb)
    assert (rec_a["material"]["call"], rec_b["material"]["call"]) == (1, 0)
    assert rec_a["material"]["session"] != rec_b["material"]["session"]
    assert all(p.session == 1 for p in ra.requests) and all(p.session == 2 for p in rb.requests)


def test_success_answer_is_returned_untouched(node: Node) -> None:
    provider, model = first_route(node, "ExecPrompt", PROMPT)
    vm = node.vm()
    vm.script(provider, model, Success(text="exact words", tokens=7))
    result = vm.session().call("ExecPrompt", PROMPT)
    assert (result.kind, result.data) == ("ok", "exact words")
    verify(node, vm, result)


def test_entry_script_runs_from_the_source_tree(node: Node) -> None:
    """Unbundled, with `dispatch/?.lua` on the path: the relative default paths are absent
    here, so the hook reports the fault once and serves through the stock fallback."""
    vm = FakeGenVM(
        ROOT / "dispatch" / "genvm-policy-hook.lua",
        YAML[line(node.profile)],
        profile=node.profile,
        env={k: "key" for k in KEYS[line(node.profile)]},
        lua_path=str(ROOT / "dispatch" / "?.lua"),
    )
    assert [r.fields["fault"] for r in vm.logs if r.message == "genvm-policy fallback"] == [
        "salt_missing"
    ]
    result = vm.session().call("ExecPrompt", PROMPT)
    assert result.kind == "ok", result.message
    assert verify(node, vm, result)["mode"] == "stock"


def test_bundle_is_deterministic_and_preloads_every_module(tmp_path: Path) -> None:
    first = build_hook(str(tmp_path / "p.lua"), str(tmp_path / "s"))
    assert first == build_hook(str(tmp_path / "p.lua"), str(tmp_path / "s"))
    names = sorted(p.stem for p in (ROOT / "dispatch" / "genvm_policy").glob("*.lua"))
    for name in names:
        assert f'package.preload["genvm_policy.{name}"] = function(...)'.encode() in first
    assert f'local POLICY_PATH = "{tmp_path}/p.lua"'.encode() in first


# -- budget allowance and statistics (newest line) ------------------------------------


def test_spent_allowance_exhausts_every_later_call(node: Node) -> None:
    """The fake's gas allows 1000 x 1000 gen: a success reporting that much ends the session's
    budget, so the next call exhausts before any provider call (stock's rule)."""
    vm = node.vm()
    for name, backend in vm.config.backends.items():
        for mid in backend.models:
            vm.script(name, mid, Success(consumed_gen=1_000_000))
    s = vm.session()
    s.setup()
    first = s.call("ExecPrompt", PROMPT)
    second = s.call("ExecPrompt", PROMPT)
    verify(node, vm, second)
    assert first.kind == "ok" and first.data != ""
    if node.profile == "v2-new":
        assert (second.kind, second.data, second.requests) == ("ok", "", [])
    else:
        assert second.kind == "ok" and len(second.requests) == 1


def test_teardown_adds_statistics_to_stats_sqlite(node: Node) -> None:
    provider, model = first_route(node, "ExecPrompt", PROMPT)
    vm = node.vm()
    for _ in range(2):  # two sessions add to the same rows
        vm.script(provider, model, StatusNotOk(503), Success(tokens=5))
        s = vm.session()
        s.setup()
        s.call("ExecPrompt", PROMPT)
        s.call("ExecPrompt", PROMPT)
        teardown = s.teardown()
    if node.profile != "v2-new":
        assert teardown is None and not vm.stats_path.exists()
        return
    assert teardown is not None and teardown.kind == "ok"
    assert not [r for r in vm.logs if "statistics" in r.message]
    with sqlite3.connect(vm.stats_path) as db:
        rows = {
            m: (e, i, o)
            for m, e, i, o in db.execute(
                "SELECT model, errors, input_tokens, output_tokens FROM provider_stats"
            )
        }
    # per session: a 503, the next route's default answer (7 tokens each way), then 5
    assert rows[f"{provider}/{model}"] == (2, 10, 10)
    assert sum(r[1] for r in rows.values()) == 2 * (7 + 5)
    assert sum(r[0] for r in rows.values()) == 2


def test_statistics_never_fail_the_session(node: Node) -> None:
    vm = node.vm()
    s = vm.session()
    s.call("ExecPrompt", PROMPT)
    vm.stats_path.mkdir()  # a directory where the file should be: sqlite cannot open it
    teardown = s.teardown()
    if node.profile == "v2-new":
        assert teardown is not None and teardown.kind == "ok"
        (warning,) = [r for r in vm.logs if r.message == "genvm-policy: statistics not written"]
        assert "stats.sqlite" in warning.fields["path"]


@pytest.mark.parametrize(
    ("gas", "remaining", "want"),
    [
        ("text", 500, "exhausted"),
        ("rat", 500, "exhausted"),
        ("rat", 20_000, 30.0),
        ("absent", 500, None),
        ("zero", 500, None),
        ("text", "number", 30.0),
        ("seven", 20, 4.285714),  # 20 / 7 x 3/2 = 4.2857142…, floored to the microsecond
    ],
)
def test_budget_reads_every_shape_the_newest_line_gives(
    tmp_path: Path, gas: str, remaining: Any, want: Any
) -> None:
    """`genPerTimeUnit` as decimal text or a `rat`, absent or zero (budget off), and a
    `remaining_gen` that is a plain number: the timeout and exhaustion follow stock."""
    node = Node(tmp_path, "v2-new")
    vm = node.vm()
    s = vm.session()
    per = {"text": "1000", "rat": Rat(Fraction(1000)), "zero": "0", "seven": "7"}.get(gas)
    s.ctx["gas_data"] = vm.to_lua({} if per is None else {"genPerTimeUnit": per})
    if remaining == "number":
        args = (s.ctx, vm.to_lua(PROMPT), 20_000)
        result = Call(vm, s, vm.driver.entry(vm.exec_prompt), args, 20_000).run()
    else:
        result = s.call("ExecPrompt", PROMPT, remaining_gen=remaining)
    verify(node, vm, result)
    if want == "exhausted":
        assert (result.kind, result.data, result.requests) == ("ok", "", [])
        return
    (call,) = result.requests
    assert result.kind == "ok" and call.request is not None
    assert call.request["timeout"] == want


# -- template filling and opt-in filters (HOOK.md §6, §10) ---------------------------------


def test_policy_text_filters_reach_only_the_contracts_texts(node: Node) -> None:
    """POLICY asks for NFKC: in the newer line it runs on each template variable, never on
    the operator's template wording; a value's own `#{…}` is never filled again."""
    vm = node.vm()
    args = {
        "template": "EqComparative",
        "leader_answer": "\ufb01 #{principle}",
        "validator_answer": "b",
        "principle": "same",
    }
    result = vm.session().call("ExecPromptTemplate", args)
    assert result.kind == "ok", result.message
    (call,) = result.requests
    assert call.request is not None
    template = vm.config.templates["eq_comparative"]
    assert call.request["system_message"] == template["system"]
    leader = "\ufb01" if node.profile == "v1" else "fi"
    want = (
        template["user"]
        .replace("#{principle}", "same")
        .replace("#{validator_answer}", "b")
        .replace("#{leader_answer}", leader + " #{principle}")
    )
    assert call.request["user_message"] == want
