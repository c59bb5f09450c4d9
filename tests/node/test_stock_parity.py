"""Stock parity: the hook against a model of each GenVM line's stock script (docs/HOOK.md §10).

For every config of `CONFIGS`, every GenVM profile, every policy (`stock-greybox`, the
starter policy `init` writes for the node's salt, and each example of
`examples/policies/` the catalog admits), every request class and
template entry, and every scripted provider outcome, the real bundled hook under the
GenVM fake must end the call as the stock model (`genvmfake.stock`) of that line does:
the same outcome kind, the same causes and error texts, the same answer, and every
request it sends carries stock's system and user text, format, timeout and the model's
own `use_max_completion_tokens`. Outcomes are scripted alike on every route, so only
what the policy decides (route, order, sampling) can tell the two apart, and those are
not compared. The only other differences allowed are rows of HOOK.md's table "Where
the hook differs from stock", each checked where it applies (`ALLOWED`).

Adding a config: one entry in `CONFIGS`: its path, its overlay or None, and the line
whose shape the file has. A newer-line file runs under every profile (the older line
reads a copy without what it lacks, `older_line_copy`); an older-line file (with
`${genvmRoot}`) runs under `v1` only. GenVM's chainless sample configs join with
`"v1-sample": (DATA / "llm-default-config.yaml", None, "v1")` and
`"v2-sample": (DATA / "genvm-module-llm.v2-sample.yaml", None, "v2")` once
`stock-greybox` routes without chains (SPEC §9.3), with their pairs for
`jittered.toml` and `tee-only.yaml` in `NOT_ADMITTED` (no `quality` field without an
overlay); `test_stock_greybox_routes_every_class` then covers them as well. The greybox
script is compared only on nodes with chains: without any it does not start (GENVM.md
§7).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from support.genvmfake import (
    PROFILES,
    CallResult,
    FakeGenVM,
    PlainError,
    ReadingBody,
    SendingRequest,
    StatusNotOk,
    Success,
)
from support.genvmfake.outcomes import Outcome
from support.genvmfake.stock import StockCall, StockResult, run_stock

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import BUILTINS
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.authoring.initpolicy import starter_policy
from genvm_policy.core.errors import PolicyError
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.bundle import build_hook
from genvm_policy.node.compile import compile_policy
from genvm_policy.node.hookmodel import RECORD_MESSAGE

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "genvm"

CONFIGS: dict[str, tuple[Path, Path | None, str]] = {
    "greybox-fixture": (DATA / "genvm-module-llm.v2-greybox.yaml", None, "v2"),
    "example-node": (ROOT / "examples" / "node" / "genvm-module-llm.yaml",
                     ROOT / "examples" / "node" / "overlay.yaml", "v2"),
    "v1-sample": (DATA / "llm-default-config.yaml", None, "v1"),
    "v2-sample": (DATA / "genvm-module-llm.v2-sample.yaml", None, "v2"),
}  # fmt: skip  # a table laid out by hand in rows
"""The node configs the suite runs on: (path, overlay, shape); see the module docstring."""

EXAMPLES = sorted((ROOT / "examples" / "policies").iterdir())
STARTER = "init-starter"
"""The policy `genvm-policy init` writes by default for this node and its salt (SPEC §11)."""
POLICIES = ["stock-greybox", STARTER, *(p.name for p in EXAMPLES)]
NOT_ADMITTED = {
    (config, policy): code
    for config in ("greybox-fixture", "v1-sample", "v2-sample")
    for policy, code in (
        ("family-spread.yaml", "POL_FIELD"),
        ("fallback-on-429.yaml", "POL_ROUTE"),
        ("jittered.toml", "POL_FIELD"),
        ("leader-stronger.yaml", "POL_FIELD"),
        ("pin-one-route.yaml", "POL_ROUTE"),
        ("premium-then-rest.yaml", "POL_FIELD"),
        ("tee-only.yaml", "POL_FIELD"),
    )
}
"""Pairs whose catalog lacks a field the policy names (the example overlay's) or a route
it pins (the example node's): never installed, so not run."""

# A table laid out by hand in rows: `fmt: skip` keeps them.
STOCK_SCRIPTS = {"v1": ["v1-default"], "v2-mid": ["v2-default", "v2-greybox"],
                 "v2-new": ["v2-default", "v2-greybox"]}  # fmt: skip
SALT = bytes(range(7, 39))
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 8
PROMPT = "  Hello\u200b   world\n\n\n\nthe \ufb01le  said "
LEADER_JSON = '{\n  "answer": "\ufb01  x",\n    "ok": true\n}'
TEMPLATE_ARGS = {
    "EqComparative": {"leader_answer": LEADER_JSON, "validator_answer": "b  \u200b",
                      "principle": "same meaning"},
    "EqNonComparativeLeader": {"task": "sum  it", "criteria": "exact", "input": "1\n  2"},
    "EqNonComparativeValidator": {"task": "t", "criteria": "c", "input": "  i", "output": "o"},
}  # fmt: skip  # a table laid out by hand in rows
CLASSES: dict[str, tuple[str, dict[str, Any]]] = {
    "prompt-text": ("prompt", {"prompt": PROMPT, "response_format": "text", "images": []}),
    "prompt-json": ("prompt", {"prompt": PROMPT, "response_format": "json", "images": []}),
    "prompt-text-image": ("prompt", {"prompt": PROMPT, "response_format": "text",
                                     "images": [PNG]}),
    "prompt-json-image": ("prompt", {"prompt": PROMPT, "response_format": "json",
                                     "images": [PNG]}),
    **{t: (t, a) for t, a in TEMPLATE_ARGS.items()},
}  # fmt: skip  # a table laid out by hand in rows
OK = Success(text="the same words", json={"answer": "same"}, result=True)
OUTCOMES: dict[str, Outcome] = {
    "success": OK,
    **{f"overloaded-{s}": StatusNotOk(s) for s in (408, 429, 503, 504, 529)},
    "html-503": ReadingBody(503),
    **{f"status-{s}": StatusNotOk(s) for s in (400, 401, 404, 413, 500)},
    "send-failure": SendingRequest(),
    "non-module": PlainError("connection reset by the host"),
}
OVERLOADED = {408, 429, 503, 504, 529}
POSITION = re.compile(r"^.*?:\d+: ")
"""The `chunk:line: ` a Lua error raised in a script starts with: where, not what."""


@dataclass(frozen=True)
class Scenario:
    """One call: the entry, its args, the budget and the outcome every route gives."""

    name: str
    entry: str
    args: dict[str, Any]
    outcome: Outcome
    remaining_gen: int = 1_000_000


def scenarios() -> Iterator[Scenario]:
    """Every class under every outcome, then the texts and budgets stock treats specially."""
    for cls, (entry, args) in CLASSES.items():
        for name, outcome in OUTCOMES.items():
            yield Scenario(f"{cls}/{name}", entry, args, outcome)
    for name, text in (("empty", ""), ("blank", " \u200b\t\n  \u200d ")):
        for fmt in ("text", "json"):
            yield Scenario(
                f"{name}-prompt-{fmt}",
                "prompt",
                {"prompt": text, "response_format": fmt, "images": []},
                OK,
            )
    for template, args in TEMPLATE_ARGS.items():
        first = sorted(args)[0]
        yield Scenario(f"{template}/percent", template, {**args, first: "50% off, 100%%"}, OK)
        yield Scenario(f"{template}/percent-capture", template, {**args, first: "a%1b"}, OK)
        yield Scenario(
            f"{template}/missing", template, {k: v for k, v in args.items() if k != first}, OK
        )
    for remaining in (0, 1, 500, 666, 667, 20_000, 40_000, 40_001):
        yield Scenario(f"budget-{remaining}", "prompt", CLASSES["prompt-text"][1], OK, remaining)


SCENARIOS = list(scenarios())


def older_line_copy(source: Path, target: Path) -> Path:
    """`source` as the older line reads it: no `lua_path`, `data_dir` or backend `meta`
    (V1 has none of them), `${genvmRoot}/bin` where the newer line says `${exeDir}`."""
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    for key in ("lua_path", "data_dir", "meta", "timeout"):
        raw.pop(key, None)
    for backend in raw["backends"].values():
        backend.pop("meta", None)
    text = yaml.safe_dump(raw, sort_keys=True).replace("${exeDir}", "${genvmRoot}/bin")
    target.write_text(text, encoding="utf-8")
    return target


class Installed:
    """One node folder with `policy` compiled against `config`'s catalog, and its VMs.

    The catalog is compiled from the config as the profile's line shows it, as an
    install on that node would do.
    """

    def __init__(self, tmp: Path, config: str, policy: str, profile: str = "v2-mid") -> None:
        yaml_path, overlay, shape = CONFIGS[config]
        if profile == "v1" and shape == "v2":
            yaml_path = older_line_copy(yaml_path, tmp / "genvm-module-llm.v1.yaml")
        self.yaml, self.profile = yaml_path, profile
        node_doc = load_document(str(yaml_path), what="node config")
        extra = load_document(str(overlay), what="overlay") if overlay else None
        assert isinstance(node_doc, dict) and isinstance(extra, dict | None)
        self.catalog = build_catalog(node_doc, extra)
        if policy == STARTER:
            doc = starter_policy(self.catalog, SALT)[0]
        else:
            loaded = (
                BUILTINS[policy]
                if policy in BUILTINS
                else load_document(str(ROOT / "examples" / "policies" / policy), what="policy")
            )
            assert isinstance(loaded, dict), policy
            doc = loaded
        self.policy = admit(doc, self.catalog)
        (tmp / "policy.lua").write_bytes(compile_policy(self.catalog, self.policy))
        (tmp / "salt").write_bytes(SALT)
        self.hook = tmp / "hook.lua"
        self.hook.write_bytes(build_hook(str(tmp / "policy.lua"), str(tmp / "salt")))
        text = yaml_path.read_text(encoding="utf-8")
        self.env = {k: "key" for k in re.findall(r"\$\{ENV\[([^\]]+)\]\}", text)}

    def vm(self, runtime: str = "lua53") -> FakeGenVM:
        return FakeGenVM(self.hook, self.yaml, profile=self.profile, env=self.env, runtime=runtime)


def run_hook(vm: FakeGenVM, s: Scenario) -> tuple[CallResult, dict[str, Any]]:
    """The hook's result for `s` with every route scripted alike, and its record (or {})."""
    vm.scripts.clear()
    for name, backend in vm.config.backends.items():
        for mid in backend.models:
            vm.script(name, mid, *[s.outcome] * 20)
    entry = "ExecPrompt" if s.entry == "prompt" else "ExecPromptTemplate"
    args = s.args if s.entry == "prompt" else {"template": s.entry, **s.args}
    got = vm.session().call(entry, args, remaining_gen=s.remaining_gen)
    recs = [r.fields for r in got.logs if r.message == RECORD_MESSAGE]
    assert len(recs) <= 1
    return got, recs[0] if recs else {}


def same_timeout(got: float | None, want: float | None) -> bool:
    """Equal, but for the hook's flooring to the microsecond (HOOK.md §10, "timeout")."""
    if got is None or want is None:
        return got is want
    return 0 <= want - got < 1e-6


def _data(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value.startswith("{") else value


def _module_kind(outcome: Outcome) -> str | None:
    if isinstance(outcome, StatusNotOk | ReadingBody):
        return None if outcome.status in OVERLOADED else type(outcome).__name__
    return "SendingRequest" if isinstance(outcome, SendingRequest) else None


def allowed(
    policy: str, s: Scenario, got: CallResult, rec: dict[str, Any], want: StockResult
) -> str | None:
    """The HOOK.md §10 row that explains a different ending, or None."""
    if (
        policy != "stock-greybox"
        and "attempts" in rec
        and not rec["attempts"]
        and rec.get("outcome", {}).get("kind") == "no_provider"
    ):
        return "no route for the class"
    kinds = {"STATUS_NOT_OK", "READING_BODY", "SENDING_REQUEST", "NO_PROVIDER_FOR_PROMPT"}
    if (
        _module_kind(s.outcome) is not None
        and got.kind == want.kind == "fatal_error"
        and {*got.causes[:1], *want.causes[:1]} <= kinds
        and rec.get("outcome", {}).get("kind") in ("abort", "no_provider")
    ):
        return "failure actions"
    return None


def compare(where: str, vm: FakeGenVM, policy: str, script: str, s: Scenario) -> list[str]:
    """What differs between the hook and the stock model for `s`, beyond HOOK.md §10."""
    got, rec = run_hook(vm, s)
    want = run_stock(
        script,
        vm.profile,
        vm.config,
        StockCall(s.entry, s.args, s.remaining_gen),
        lambda provider, model: s.outcome,
    )
    where = f"{where}/{script}/{s.name}"
    problems: list[str] = []
    for req in got.requests:
        sent = req.request
        assert sent is not None, where
        model = vm.config.backends[sent["provider"]].models[sent["model"]]
        if sent["use_max_completion_tokens"] != model.use_max_completion_tokens:
            problems.append(f"{where}: use_max_completion_tokens of {sent['model']}")
        if not want.sent:
            problems.append(f"{where}: the hook called a provider, stock would not")
            break
        w = want.sent[0]
        shown = (sent["format"], sent["system_message"], sent["user_message"])
        if shown != (w.format, w.system, w.user) or not same_timeout(
            sent.get("timeout"), w.timeout
        ):
            problems.append(f"{where}: request {shown!r} != stock {w!r}")
    if allowed(policy, s, got, rec, want) is not None:
        return problems
    if want.kind == "exhausted":
        if (got.kind, got.data, got.requests) != ("ok", "", []):
            problems.append(f"{where}: stock exhausts, the hook gave {got.kind} {got.data!r}")
        return problems
    if got.kind != want.kind or got.causes[:1] != want.causes[:1]:
        problems.append(
            f"{where}: {got.kind} {got.causes[:1]} != stock {want.kind} "
            f"{want.causes[:1]} ({got.message})"
        )
    elif want.message and want.message != POSITION.sub("", got.message):
        problems.append(f"{where}: message {got.message!r} != stock {want.message!r}")
    elif want.kind == "ok" and _data(got.data) != want.data:
        problems.append(f"{where}: data {got.data!r} != stock {want.data!r}")
    elif want.kind == "user_error" and got.ctx != {}:
        problems.append(f"{where}: user error ctx {got.ctx!r} != stock {{}}")
    return problems


def has_chains(vm: FakeGenVM) -> bool:
    """Whether any model GenVM offers has a `meta.greybox` position."""
    return any(
        isinstance(m.meta, dict) and isinstance(m.meta.get("greybox"), dict)
        for b in vm.config.backends.values()
        for m in b.models.values()
    )


def profiles(config: str) -> list[str]:
    """The GenVM profiles a config of that shape runs under."""
    return list(PROFILES) if CONFIGS[config][2] == "v2" else ["v1"]


def cases() -> Iterator[tuple[str, str, str]]:
    for config in CONFIGS:
        for policy in POLICIES:
            if (config, policy) not in NOT_ADMITTED:
                for profile in profiles(config):
                    yield config, policy, profile


@pytest.mark.runtimes("lupa")
@pytest.mark.parametrize(("config", "policy", "profile"), list(cases()))
def test_hook_matches_the_stock_script(
    tmp_path: Path, config: str, policy: str, profile: str, runtime: str
) -> None:
    vm = Installed(tmp_path, config, policy, profile).vm(runtime)
    problems: list[str] = []
    for script in STOCK_SCRIPTS[profile] if has_chains(vm) else STOCK_SCRIPTS[profile][:1]:
        for s in SCENARIOS:
            problems += compare(f"{config}/{policy}/{profile}", vm, policy, script, s)
    assert problems == [], "\n".join(problems[:20])


@pytest.mark.parametrize(
    ("config", "profile"), [(c, p) for c in sorted(CONFIGS) for p in profiles(c)]
)
def test_stock_greybox_routes_every_class(tmp_path: Path, config: str, profile: str) -> None:
    """The fallback never uses the 'no route for the class' row: every class answers."""
    vm = Installed(tmp_path, config, "stock-greybox", profile).vm()
    for cls, (entry, args) in CLASSES.items():
        got, rec = run_hook(vm, Scenario(cls, entry, args, OK))
        assert (got.kind, rec["outcome"]) == ("ok", {"kind": "ok"}), (cls, got.message)


def test_the_pairs_left_out_are_exactly_those_admission_refuses(tmp_path: Path) -> None:
    for config in CONFIGS:
        for policy in POLICIES:
            try:
                Installed(tmp_path, config, policy, profiles(config)[-1])
                code = None
            except PolicyError as err:
                code = err.code
            assert code == NOT_ADMITTED.get((config, policy)), (config, policy)


def test_every_allowed_difference_is_a_row_of_the_hook_page() -> None:
    page = (ROOT / "docs" / "HOOK.md").read_text(encoding="utf-8")
    table = page.split("### Where the hook differs from stock, and why", 1)[1]
    for row in (
        "failure actions",
        "no route for the class",
        "route order",
        "sampling parameters",
        "opt-in text filters",
    ):
        assert f"| **{row}** |" in table, row


_VMS: dict[str, FakeGenVM] = {}


def shared_vm(profile: str) -> FakeGenVM:
    """One VM per profile for property tests (hypothesis reuses it across examples)."""
    if profile not in _VMS:
        tmp = Path(tempfile.mkdtemp(prefix="parity-"))
        _VMS[profile] = Installed(tmp, "greybox-fixture", "stock-greybox", profile).vm()
    return _VMS[profile]


# Values rich in what gsub's replacement string reads (`%` then a digit, `%` or
# anything), never a placeholder of their own (the "placeholders inside values" row).
values = st.text(st.sampled_from(list("%%%01289ab #{}\n\u200b")), max_size=12).filter(
    lambda v: "#{" not in v
)


@pytest.mark.parametrize("profile", PROFILES)
@settings(max_examples=60)
@given(value=values, template=st.sampled_from(sorted(TEMPLATE_ARGS)))
def test_template_filling_matches_stock_for_any_value(
    profile: str, value: str, template: str
) -> None:
    args = dict(TEMPLATE_ARGS[template])
    args[sorted(args)[-1]] = value
    vm = shared_vm(profile)
    problems = compare(
        f"{profile}/{value!r}",
        vm,
        "stock-greybox",
        STOCK_SCRIPTS[profile][0],
        Scenario("fill", template, args, OK),
    )
    assert problems == []


@pytest.mark.parametrize("profile", PROFILES)
def test_a_spent_allowance_exhausts_as_stock_does(tmp_path: Path, profile: str) -> None:
    """One answer spends the session's whole allowance (1000 gen/s x 1000 s in the fake's
    hello): stock exhausts every later call of the session in the newest line."""
    vm = Installed(tmp_path, "greybox-fixture", "stock-greybox", profile).vm()
    spend = Success(text="the same words", consumed_gen=1_000_000)
    for name, backend in vm.config.backends.items():
        for mid in backend.models:
            vm.script(name, mid, spend, spend)
    session = vm.session()
    session.setup()
    entry, args = CLASSES["prompt-text"]
    first, second = (session.call("ExecPrompt", args) for _ in range(2))
    for got, over in ((first, False), (second, True)):
        want = run_stock(
            "v2-default" if profile != "v1" else "v1-default",
            profile,
            vm.config,
            StockCall(entry, args, spent_over=over),
            lambda p, m: spend,
        )
        if want.kind == "exhausted":
            assert (got.kind, got.data, got.requests) == ("ok", "", [])
        else:
            assert (got.kind, got.data) == (want.kind, want.data)
    assert (second.requests == []) == (profile == "v2-new")
