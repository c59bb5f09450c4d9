"""Tests of the GenVM fake (`support/genvmfake`), driven by the test hooks of `support/hooks/`.

Each test builds fresh VMs from the real fixture YAMLs in ../shared/fixtures/genvm/ and
runs real lupa Lua 5.3 states; every profile is covered where the feature exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.genvmfake import (
    PROFILES,
    CallResult,
    ConfigError,
    FakeGenVM,
    ModuleDoesNotStart,
    PlainError,
    ReadingBody,
    SendingRequest,
    StatusNotOk,
    Success,
    filter_text,
)
from support.testhooks import HOOKS, V1_ENV, V1_YAML, make

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 8


def prompt(cmd: str, fmt: str = "text", images: list[bytes] | None = None) -> dict[str, object]:
    return {"prompt": cmd, "response_format": fmt, "images": images or []}


# -- providers: filtering and shapes ---------------------------------------------------


def test_v1_providers_follow_genvm_filtering() -> None:
    vm = make("v1")
    assert sorted(vm.config.backends) == ["heurist", "openai"]
    assert vm.config.dropped == {
        "anthropic": "empty key",
        "xai": "empty key",
        "google": "empty key",
        "atoma": "disabled",
    }


def test_v2_providers_drop_disabled_models_and_keyless_backends() -> None:
    vm = make("v2-mid")
    assert sorted(vm.config.backends) == ["ionet", "openrouter"]
    assert list(vm.config.backends["ionet"].models) == ["meta-llama/Llama-3.3-70B-Instruct"]
    assert vm.config.dropped["google"] == "disabled"
    assert vm.config.backends["openrouter"].models["anthropic/claude-haiku-4.5"].timeout == 90.0
    assert vm.config.backends["ionet"].timeout == 120.0


def test_no_backend_left_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="no backend left"):
        FakeGenVM(HOOKS / "walk.lua", V1_YAML, profile="v1", env={})


def test_backend_with_empty_key_is_not_offered(tmp_path: Path) -> None:
    cfg = tmp_path / "llm.yaml"
    cfg.write_text(
        "lua_path: ${exeDir}/../lib/genvm-lua/?.lua\n"
        "backends:\n"
        "  keyed: {host: 'https://a', provider: ollama, key: '${ENV[A]}',"
        " models: {m1: {supports_json: true}}}\n"
        "  keyless: {host: 'https://b', provider: ollama, key: '${ENV[B]}', models: {m2: {}}}\n",
        encoding="utf-8",
    )
    vm = FakeGenVM(HOOKS / "walk.lua", cfg, profile="v2-new", env={"A": "x", "B": ""})
    assert vm.config.dropped == {"keyless": "empty key"}
    got = vm.session().call("ExecPrompt", prompt("order"))
    assert got.data == "keyed"


@pytest.mark.parametrize("profile", PROFILES)
def test_meta_shape_per_profile(profile: str) -> None:
    got = json.loads(make(profile).session().call("ExecPrompt", prompt("meta")).data)
    if profile == "v1":
        assert got["openai/gpt-4o"] == "table:true:nil"
        # unset meta: NULL userdata, truthy, indexing raises
        assert got["heurist/meta-llama/llama-3.3-70b-instruct"] == "userdata:false:nil"
    else:
        unset = "userdata:false" if profile == "v2-mid" else "nil:false"
        backend_unset = "userdata" if profile == "v2-mid" else "nil"
        assert got["openrouter/deepseek/deepseek-v3.2"] == "table:true:table"
        assert got["openrouter/openrouter/auto"] == f"{unset}:table"
        assert got["ionet/meta-llama/Llama-3.3-70B-Instruct"] == f"table:true:{backend_unset}"


def test_unset_meta_shape_is_switchable() -> None:
    got = json.loads(make("v1", unset_meta="nil").session().call("ExecPrompt", prompt("meta")).data)
    assert got["heurist/meta-llama/llama-3.3-70b-instruct"] == "nil:false:nil"


def test_pairs_order_differs_across_fresh_states() -> None:
    env = {**V1_ENV, "XAIKEY": "k", "GEMINIKEY": "k", "ANTHROPICKEY": "k"}
    orders = [
        make("v1", env=env, seed=seed).session().call("ExecPrompt", prompt("order")).data
        for seed in range(12)
    ]
    assert all(
        sorted(o.split(",")) == ["anthropic", "google", "heurist", "openai", "xai"] for o in orders
    )
    assert len(set(orders)) > 1


# -- loading ---------------------------------------------------------------------------


@pytest.mark.parametrize("hook", ["only_prompt.lua", "broken.lua"])
def test_module_does_not_start(hook: str) -> None:
    with pytest.raises(ModuleDoesNotStart):
        make("v1", hook)


def test_lua_path_per_line() -> None:
    v1 = make("v1")
    assert v1.lua.eval("package.path").startswith(str(v1.root / "share/lib/genvm/lua/?.lua;"))
    v2 = make("v2-mid")
    assert v2.lua.eval("package.path") == str(v2.root / "bin") + "/../lib/genvm-lua/?.lua"
    assert v2.lua.eval("os == nil and utf8 == nil and debug == nil and io ~= nil")


# -- yields and the C-call boundary ------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("cmd", ["sort_yield", "gsub_yield", "require_yield"])
def test_yield_across_c_boundary_fails(profile: str, cmd: str) -> None:
    extra = f"{HOOKS}/?.lua"
    lua_path = extra if profile == "v1" else f"${{exeDir}}/../lib/genvm-lua/?.lua;{extra}"
    got = make(profile, lua_path=lua_path).session().call("ExecPrompt", prompt(cmd))
    assert got.kind == "fatal_error"
    assert "attempt to yield across a C-call boundary" in got.message


@pytest.mark.parametrize("profile", PROFILES)
def test_two_sessions_interleave_without_cross_talk(profile: str) -> None:
    vm = make(profile)
    a, b = vm.session(), vm.session()
    ca, cb = a.begin("ExecPrompt", prompt("tag:alpha")), b.begin("ExecPrompt", prompt("tag:beta"))
    seen = []
    while not (ca.done and cb.done):
        for c in (ca, cb):
            c.step()
            seen.append(c.pending)
    assert ca.result is not None and cb.result is not None
    assert ca.result.data.startswith("alpha:1:") and cb.result.data.startswith("beta:1:")
    assert ca.result.sleeps == [0.25, 0.5] and cb.result.sleeps == [0.25, 0.5]
    assert [r.session for r in ca.result.requests] == [a.number]
    assert [r.session for r in cb.result.requests] == [b.number]
    assert "sleep_seconds" in seen and "exec_prompt_in_provider" in seen
    assert a.call("ExecPrompt", prompt("tag:alpha")).data.startswith("alpha:2:")


# -- provider calls ----------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_float_max_tokens_is_a_plain_error(profile: str) -> None:
    got = make(profile).session().call("ExecPrompt", prompt("float_max"))
    assert got.kind == "fatal_error" and "max_tokens" in got.message and got.causes == []
    assert got.requests[0].request is None


@pytest.mark.parametrize("profile", PROFILES)
def test_request_checks_are_serde_strict(profile: str) -> None:
    s = make(profile).session()

    def accepted(case: str) -> bool:
        got = json.loads(s.call("ExecPrompt", prompt(f"probe:{case}")).data)
        assert got["decoded"] is got["ok"]  # every rejection here is a plain error
        return bool(got["ok"])

    assert accepted("plain")  # an unknown key (`bogus`) is ignored
    for case in ["unknown_provider", "unknown_model", "bad_format", "no_images"]:
        assert not accepted(case), case
    v2new = profile == "v2-new"
    assert accepted("neg_seed") is not v2new  # older lines ignore `seed` altogether
    assert accepted("float_seed") is not v2new
    assert accepted("max_seed")


@pytest.mark.parametrize("profile", PROFILES)
def test_answer_shapes(profile: str) -> None:
    vm = make(profile)
    s = vm.session()
    text = s.call("ExecPrompt", prompt("hi"))
    assert text.kind == "ok" and text.data.startswith("text answer from ")
    assert text.consumed_gen == 0
    js = s.call("ExecPrompt", prompt("hi", "json"))
    if profile == "v2-new":
        assert isinstance(js.data, str) and "answer" in json.loads(js.data)
    else:
        assert isinstance(js.data, dict) and "answer" in js.data
    req = js.requests[0].request
    assert req is not None and req["system_message"] == "respond with a valid json object"
    assert req["max_tokens"] == (1000 if profile == "v1" else 8000)
    args = {
        "template": "EqComparative",
        "leader_answer": "1",
        "validator_answer": "1",
        "principle": "100%",
    }
    verdict = s.call("ExecPromptTemplate", args)
    if profile == "v1":
        # V1 fills templates through raw replacement strings: a `%` breaks them
        assert verdict.kind == "fatal_error" and "invalid use of '%'" in verdict.message
        verdict = s.call("ExecPromptTemplate", {**args, "principle": "all"})
    assert verdict.kind == "ok" and verdict.data is True
    sent = verdict.requests[0].request
    assert sent is not None and sent["format"] == "bool"
    assert sent["user_message"].endswith("Reason first.\n")
    assert ("100%" in sent["user_message"]) == (profile != "v1")
    leader = s.call(
        "ExecPromptTemplate",
        {"template": "EqNonComparativeLeader", "task": "t", "criteria": "c", "input": "i"},
    )
    sent = leader.requests[0].request
    assert leader.kind == "ok" and sent is not None and sent["format"] == "text"


@pytest.mark.parametrize("profile", PROFILES)
def test_cascade_on_scripted_errors_with_float_status(profile: str) -> None:
    vm = make(profile, env={**V1_ENV, "XAIKEY": "k", "GEMINIKEY": "k"} if profile == "v1" else None)
    routes = sorted((b, m) for b, be in vm.config.backends.items() for m in be.models)
    vm.script(*routes[0], StatusNotOk(429, traceback=True))
    vm.script(*routes[1], ReadingBody(503))
    vm.script(*routes[2], SendingRequest())
    vm.script(*routes[3], Success(text="finally"))
    got = vm.session().call("ExecPrompt", prompt("hi"))
    assert got.kind == "ok" and got.data == "finally"
    failures = [log.fields for log in got.logs if log.message == "attempt failed"]
    assert [f["kind"] for f in failures] == ["STATUS_NOT_OK", "READING_BODY", "SENDING_REQUEST"]
    assert failures[0]["status"] == 429.0 and isinstance(failures[0]["status"], float)
    assert failures[0]["overloaded"] is True and failures[1]["overloaded"] is True
    assert failures[2]["overloaded"] is False and "status" not in failures[2]
    assert failures[0]["trace"].startswith("stack traceback") and "trace" not in failures[1]
    assert [r.outcome for r in got.requests][:3] == ["StatusNotOk", "ReadingBody", "SendingRequest"]


@pytest.mark.parametrize("profile", PROFILES)
def test_all_routes_fail_gives_fatal_no_provider(profile: str) -> None:
    vm = make(profile)
    for b, be in vm.config.backends.items():
        for m in be.models:
            vm.script(b, m, StatusNotOk(503))
    got = vm.session().call("ExecPrompt", prompt("hi"))
    assert got.kind == "fatal_error" and got.causes == ["NO_PROVIDER_FOR_PROMPT"]


@pytest.mark.parametrize("profile", PROFILES)
def test_plain_provider_error_is_reraised_and_not_decoded(profile: str) -> None:
    vm = make(profile)
    first = sorted((b, m) for b, be in vm.config.backends.items() for m in be.models)[0]
    vm.script(*first, PlainError("connection reset"))
    got = vm.session().call("ExecPrompt", prompt("hi"))
    assert got.kind == "fatal_error" and got.message == "connection reset"
    assert len(got.requests) == 1


@pytest.mark.parametrize("profile", PROFILES)
def test_opaque_errors_decode_only_through_as_user_error(profile: str) -> None:
    vm = make(profile)
    first = sorted((b, m) for b, be in vm.config.backends.items() for m in be.models)[0]
    vm.script(*first, StatusNotOk(500))
    got = json.loads(vm.session().call("ExecPrompt", prompt("raw")).data)
    assert got == {
        "ok": False,
        "decoded": True,
        "type": "userdata",
        "message": "ModuleError { causes: ['STATUS_NOT_OK'], fatal: true }",
    }
    vm.script(*first, PlainError("nope"))
    got = json.loads(vm.session().call("ExecPrompt", prompt("raw")).data)
    assert got == {"ok": False, "decoded": False, "type": "userdata", "message": "nope"}
    probe = vm.lua.eval("function(e) return pcall(function() return e.causes end) end")
    from support.genvmfake.values import ModuleError

    assert probe(ModuleError(["X"], True, {}))[0] is False


@pytest.mark.parametrize("profile", PROFILES)
def test_invalid_image_is_rejected_before_the_script(profile: str) -> None:
    s = make(profile).session()
    got = s.call("ExecPrompt", prompt("hi", images=[b"\xff\xd8\xff\xe1exif"]))
    assert got.kind == "user_error" and got.causes == ["INVALID_IMAGE"] and not got.requests
    ok = s.call("ExecPrompt", prompt("hi", images=[PNG]))
    sent = ok.requests[-1].request
    assert ok.kind == "ok" and sent is not None and sent["images"] == [PNG]
    three = s.call("ExecPrompt", prompt("hi", images=[PNG, PNG, PNG]))
    assert three.kind == ("ok" if profile == "v1" else "user_error")


# -- returns and outcome mapping -----------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_return_mapping(profile: str) -> None:
    s = make(profile).session()

    def run(cmd: str) -> CallResult:
        return s.call("ExecPrompt", prompt(cmd))

    assert run("user_error").kind == "user_error"
    assert run("user_error").causes == ["MY_REASON", "user_error"]
    assert run("bad_user_error").kind == "fatal_error"
    assert run("boom").kind == "fatal_error" and "walk.lua:" in run("boom").message
    assert run("ret:number").kind == "fatal_error"
    assert run("ret:nothing").kind == "fatal_error"
    assert run("ret:table_data").data == {"a": 1}
    assert run("ret:bool_data").data is False
    v2new = profile == "v2-new"
    assert run("ret:float_gen").kind == ("ok" if v2new else "fatal_error")
    assert run("ret:no_gen").kind == ("ok" if v2new else "fatal_error")
    assert run("ret:neg_gen").kind == ("ok" if v2new else "fatal_error")
    if v2new:
        assert run("ret:rat_gen").consumed_gen == 3
        assert run("ret:frac_gen").kind == "fatal_error"
        exhausted = s.call("ExecPrompt", prompt("exhaust"), remaining_gen=77)
        assert (exhausted.kind, exhausted.data, exhausted.consumed_gen) == ("ok", "", 77)
        assert run("budget").data == "userdata:1000000"
    else:
        assert run("budget").data == "number:1000000"


# -- sessions, hello, host functions --------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_setup_and_teardown(profile: str) -> None:
    s = make(profile).session()
    setup = s.setup()
    seen = s.call("ExecPrompt", prompt("setup_seen")).data
    teardown = s.teardown()
    if profile == "v2-new":
        assert setup is not None and setup.kind == "ok" and seen == "true"
        assert teardown is not None and teardown.logs[0].fields == {"calls": 0}
    else:
        assert setup is None and teardown is None and seen == "nil"


@pytest.mark.parametrize("profile", PROFILES)
def test_hello_fields(profile: str) -> None:
    got = json.loads(make(profile).session(tx_id="0xabc").call("ExecPrompt", prompt("hello")).data)
    assert got["tx"] == "0xabc" and got["dflt"] == "userdata" and got["llm"] == "userdata"
    assert ("cookie" in got) == (profile == "v1")
    assert ("genvm_id" in got) == (profile != "v1")
    assert got.get("role") == ("leader" if profile == "v2-new" else None)


@pytest.mark.parametrize("profile", PROFILES)
def test_host_functions(profile: str) -> None:
    vm = make(profile)
    got = vm.session().call("ExecPrompt", prompt("host"))
    out = json.loads(got.data)
    assert out["json"] == '{"a":"x","b":[1,2]}' and out["b64"] is True
    assert out["bad_json"] == "DESERIALIZING" and out["http"] == 200
    assert out["url"] == "https|example.com|" + ("integer" if profile == "v2-new" else "float")
    assert got.sleeps == [2] and got.http[0]["method"] == "GET"
    assert got.logs[-1].message == "host done" and got.logs[-1].level == "debug"
    assert out["has_filter"] is (profile != "v1")
    if profile != "v1":
        assert out["filtered"] == "a b\n\nc" and out["nfkc"] == "fix"
        assert out["url_enc"] == "a%20b%2Fc"
    if profile == "v2-new":
        assert out["rat"] == "1|7|true|true|1/2" and out["rand"] == "5:float"
        assert out["sha3"] == "Ophdp0/iJbIEXBcta9OQvYVfCG4+nVJbRr/iRRFDFTI="
    else:
        assert "sha2" not in out


def test_filter_text_can_be_removed() -> None:
    got = json.loads(
        make("v2-new", filter_text=False).session().call("ExecPrompt", prompt("host")).data
    )
    assert got["has_filter"] is False


def test_normalize_ws_rules() -> None:
    assert filter_text("  \n\n a  b \t\n\n\n\nc d  \n", ["NormalizeWS"]) == "a b\n\nc d\n"
    assert filter_text("e\u0301\u200b", ["NFC", "RmZeroWidth"]) == "\u00e9"
