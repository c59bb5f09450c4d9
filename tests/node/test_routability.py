"""Routing proofs: stock-greybox routes every class; install and check refuse what empties one.

SPEC §9.3 (the stock order) and §9.4 (routability). Policies that empty a class run
through the CLI and `integrate.sh` as subprocesses, on GenVM's own sample configs
and on sandbox node trees.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.fixturepaths import GENVM_FIXTURES
from support.genvmfake import FakeGenVM
from support.nodefixtures import make_node, snapshot

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import builtin
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.cli.commands.catalog import load_catalog
from genvm_policy.core.catalog import genvm_view
from genvm_policy.core.encoding import decode
from genvm_policy.node.bundle import assemble, build_hook, runtime_sources
from genvm_policy.node.compile import compile_policy
from genvm_policy.node.demohost import DemoHost
from genvm_policy.node.hookmodel import RECORD_MESSAGE, UNROUTABLE_MESSAGE
from genvm_policy.node.installgrid import (
    GRID_SEEDS,
    first_difference,
    grid_expected,
    grid_input,
    run_installed,
)
from genvm_policy.node.routability import CLASSES, analyse, refusal, report_lines
from genvm_policy.vectors.fixtures import partial_catalog

ROOT = Path(__file__).resolve().parents[2]
CLI = str(ROOT / ".venv" / "bin" / "genvm-policy")
DATA = ROOT / "tests" / "data" / "genvm"
SAMPLES = {
    "v1-sample": DATA / "llm-default-config.yaml",
    "v2-sample": DATA / "genvm-module-llm.v2-sample.yaml",
    "v2-greybox": DATA / "genvm-module-llm.v2-greybox.yaml",
}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, check=False, cwd=ROOT)


def integrate(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GENVM_POLICY": CLI}
    return subprocess.run(
        [str(ROOT / "integrate.sh"), *args], capture_output=True, text=True, check=False, env=env
    )


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_stock_greybox_routes_every_class_in_python_and_lua(name: str, tmp_path: Path) -> None:
    assert (GENVM_FIXTURES / SAMPLES[name].name).read_bytes() == SAMPLES[name].read_bytes()
    catalog = load_catalog(str(SAMPLES[name]), None)
    policy = builtin("stock-greybox")
    reports = analyse(catalog, policy)
    assert [r.name for r in reports] == [n for n, _ in CLASSES]
    assert all(r.state == "routed" and r.planned >= 1 for r in reports), reports
    # The same plans in the Lua 5.3 runtime the hook bundles: every class x 64 seeds.
    hook = tmp_path / "hook.lua"
    hook.write_bytes(build_hook(str(tmp_path / "policy.lua"), str(tmp_path / "salt")))
    want = grid_expected(catalog, policy)
    assert run_installed(hook, grid_input(catalog, policy)) == want
    results = decode(want)
    assert isinstance(results, list) and len(results) == len(CLASSES) * GRID_SEEDS == 576
    rows: list[Any] = results
    assert all(r["output"]["routes"] for r in rows)


@pytest.mark.parametrize("name", ["v1-sample", "v2-sample"])
def test_explain_stock_greybox_on_chainless_samples_plans_routes(name: str) -> None:
    out = cli("explain", "--catalog", str(SAMPLES[name]), "--policy", "stock-greybox")
    assert out.returncode == 0, out.stderr
    assert "NO_PROVIDER_FOR_PROMPT" not in out.stdout
    assert out.stdout.count("attempts (in order):") == 7


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_check_refuses_cheap_first_without_prices(tmp_path: Path) -> None:
    out = cli("check", "examples/policies/cheap-first.yaml", "--catalog", str(SAMPLES["v2-sample"]))
    assert out.returncode == 2 and out.stdout == ""
    assert "POL_UNROUTABLE at $.filter[2]" in out.stderr
    assert "request class `text`" in out.stderr and "has(price_in)" in out.stderr
    assert "--allow-unroutable text" in out.stderr and "Traceback" not in out.stderr
    # the analysis names every class on stderr
    assert sum(line.startswith("route: ") for line in out.stderr.splitlines()) == len(CLASSES)


def test_check_refuses_tee_filter_for_image_prompts_and_accepts_knowingly(tmp_path: Path) -> None:
    overlay = _write(
        tmp_path,
        "overlay.yaml",
        "version: 1\nroutes:\n  heurist: {meta-llama/llama-3.3-70b-instruct: {has_tee: true}}\n",
    )
    policy = _write(tmp_path, "tee.yaml", "filter: [has_tee]\n")
    node = str(SAMPLES["v2-sample"])
    out = cli("check", policy, "--catalog", node, "--overlay", overlay)
    assert out.returncode == 2
    assert "POL_UNROUTABLE" in out.stderr and "`text+image`" in out.stderr
    assert "has_tee" in out.stderr
    images = [f"{f}+image" for f in ("text", "json", "bool")]
    args = [a for c in images for a in ("--allow-unroutable", c)]
    ok = cli("check", policy, "--catalog", node, "--overlay", overlay, *args)
    assert ok.returncode == 0, ok.stderr
    assert "route: text+image: NO ROUTE (accepted with --allow-unroutable)" in ok.stderr
    typo = cli(
        "check", policy, "--catalog", node, "--overlay", overlay, "--allow-unroutable", "img"
    )
    assert typo.returncode == 2 and "POL_VALUE" in typo.stderr and "`img`" in typo.stderr
    alone = cli("check", policy, "--allow-unroutable", "text")
    assert alone.returncode == 2 and "needs `--catalog`" in alone.stderr


def test_check_refuses_a_weighted_selector_that_overflows(tmp_path: Path) -> None:
    policy = _write(tmp_path, "w.yaml", "select: {weighted: 9007199254740991}\n")
    out = cli("check", policy, "--catalog", str(SAMPLES["v2-sample"]))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "POL_BOUND at $.select" in out.stderr and "5 routes" in out.stderr


def test_check_refuses_a_priority_outside_the_field_bounds(tmp_path: Path) -> None:
    text = (
        SAMPLES["v2-sample"]
        .read_text(encoding="utf-8")
        .replace("priority: -1", "priority: 3000000000")
    )
    node = _write(tmp_path, "node.yaml", text)
    policy = _write(tmp_path, "p.yaml", "score: priority\n")
    out = cli("check", policy, "--catalog", node)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert 'NUM_RANGE at $.routes.openai["gpt-4o"].priority' in out.stderr
    assert "3000000000" in out.stderr and "leave `priority` out of the policy" in out.stderr


@pytest.mark.parametrize("line", ["v2", "v1"])
def test_integrate_refuses_an_unroutable_policy_and_records_an_accepted_one(
    tmp_path: Path, line: str
) -> None:
    node = make_node(tmp_path / "node", {"0.5.7": line})
    config = node / "0.5.7" / "third_party" / "genvm" / "config" / "genvm-module-llm.yaml"
    made = cli("init", "--node-config", str(config), "-o", str(tmp_path / "pol"))
    assert made.returncode == 0, made.stderr
    before = snapshot(node)
    policy = tmp_path / "pol" / "cheap.yaml"
    policy.write_bytes((ROOT / "examples/policies/cheap-first.yaml").read_bytes())
    got = integrate(str(node), "--policy", str(policy))
    assert got.returncode == 2 and "POL_UNROUTABLE" in got.stderr
    assert "Traceback" not in got.stderr and snapshot(node) == before
    # The image chain filter of a text-only node: accept the image classes knowingly.
    policy.write_text("filter: [{not: image}]\n", encoding="utf-8")
    refused = integrate(str(node), "--policy", str(policy))
    assert refused.returncode == 2 and "+image" in refused.stderr and snapshot(node) == before
    images = [f"{f}+image" for f in ("text", "json", "bool")]
    args = [a for c in images for a in ("--allow-unroutable", c)]
    ok = integrate(str(node), "--policy", str(policy), *args)
    assert ok.returncode == 0, ok.stderr
    assert "text+image: NO ROUTE (accepted with --allow-unroutable)" in ok.stdout
    status = integrate(str(node), "--status")
    assert "unroutable_accepted: text+image, json+image, bool+image" in status.stdout


def test_the_hook_names_at_load_the_classes_a_drifted_node_leaves_unrouted(
    tmp_path: Path,
) -> None:
    catalog = load_catalog(str(SAMPLES["v2-sample"]), None)
    policy = admit({"select": "argmax"}, catalog)
    policy_path, salt_path = tmp_path / "policy.lua", tmp_path / "salt"
    policy_path.write_bytes(compile_policy(catalog, policy))
    salt_path.write_bytes(bytes(range(32)))
    hook = tmp_path / "hook.lua"
    hook.write_bytes(build_hook(str(policy_path), str(salt_path)))
    view = genvm_view(catalog)
    # As installed: every class routes, and the hook says nothing about it.
    whole = DemoHost(str(hook), view)
    assert not [log for log in whole.logs if log.get("message") == UNROUTABLE_MESSAGE]
    # The image backends lost their keys: GenVM offers no image route any more.
    assert isinstance(view, dict) and isinstance(view["routes"], list)
    routes: list[Any] = view["routes"]
    kept = [r for r in routes if not r["image"]]
    host = DemoHost(str(hook), {**view, "routes": kept})
    said = [log for log in host.logs if log.get("message") == UNROUTABLE_MESSAGE]
    assert len(said) == 1 and said[0]["mode"] == "policy"
    assert said[0]["classes"] == ["text+image", "json+image", "bool+image"]


def test_the_hook_at_load_names_a_class_only_one_role_can_route(tmp_path: Path) -> None:
    catalog = load_catalog(str(SAMPLES["v2-sample"]), None)
    # No images for the validator: only its image calls have no route, so deciding the
    # `unknown` role alone would name nothing.
    doc = {"filter": {"any": [{"not": "has_images"}, {"not": {"role_in": ["validator"]}}]}}
    policy = admit(doc, catalog)
    reports = analyse(catalog, policy)
    refused = [r.label for r in reports if r.state == "policy"]
    assert refused == [f"{f}+image (role validator)" for f in ("text", "json", "bool")]
    policy_path, salt_path = tmp_path / "policy.lua", tmp_path / "salt"
    policy_path.write_bytes(compile_policy(catalog, policy))
    salt_path.write_bytes(bytes(range(32)))
    hook = tmp_path / "hook.lua"
    hook.write_bytes(build_hook(str(policy_path), str(salt_path)))
    host = DemoHost(str(hook), genvm_view(catalog))
    said = [log for log in host.logs if log.get("message") == UNROUTABLE_MESSAGE]
    assert len(said) == 1
    assert said[0]["classes"] == ["text+image", "json+image", "bool+image"]


_REFUSED = {
    # policies that empty a class, on a sandbox node of the newer line: (policy, overlay,
    # config edit, what stderr must say)
    "tee-for-images": (
        "filter: [has_tee]\n",
        "version: 1\nroutes:\n  heurist: {meta-llama/llama-3.3-70b-instruct: {has_tee: true}}\n",
        None,
        ("POL_UNROUTABLE", "`text+image`", "has_tee", "--allow-unroutable text+image"),
    ),
    "weighted-max": (
        "select: {weighted: 9007199254740991}\n",
        None,
        None,
        ("POL_BOUND at $.select", "keep every weight at most"),
    ),
    "priority-past-bounds": (
        "score: priority\n",
        None,
        ("priority: 10", "priority: 3000000000"),
        ("NUM_RANGE at $.routes.openrouter", "3000000000", "leave `priority` out"),
    ),
}


@pytest.mark.parametrize("case", sorted(_REFUSED))
def test_integrate_refuses_the_examples_and_leaves_the_node(tmp_path: Path, case: str) -> None:
    text, overlay, edit, says = _REFUSED[case]
    node = make_node(tmp_path / "node", {"0.5.7": "v2"})
    config = node / "0.5.7" / "third_party" / "genvm" / "config" / "genvm-module-llm.yaml"
    if edit is not None:
        config.write_text(config.read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    made = cli("init", "--node-config", str(config), "-o", str(tmp_path / "pol"))
    assert made.returncode == 0, made.stderr
    policy = tmp_path / "pol" / "example.yaml"
    policy.write_text(text, encoding="utf-8")
    extra = ["--overlay", _write(tmp_path, "overlay.yaml", overlay)] if overlay else []
    before = snapshot(node)
    got = integrate(str(node), "--policy", str(policy), *extra)
    assert got.returncode == 2 and "Traceback" not in got.stderr
    for text_part in says:
        assert text_part in got.stderr, (text_part, got.stderr)
    assert snapshot(node) == before
    # `check --catalog` on the same node config refuses it the same way.
    checked = cli("check", str(policy), "--catalog", str(config), *extra)
    assert checked.returncode == 2 and says[0] in checked.stderr


_FAKE = {  # config -> (profiles, the env keys its backends name)
    "v1-sample": (("v1",), ["OPENAIKEY", "HEURISTKEY", "ANTHROPICKEY", "XAIKEY", "GEMINIKEY",
                            "ATOMAKEY"]),
    "v2-sample": (("v2-mid", "v2-new"), ["OPENAIKEY", "HEURISTKEY", "ANTHROPICKEY", "XAIKEY",
                                         "GEMINIKEY"]),
    "v2-greybox": (("v2-mid", "v2-new"), ["OPENROUTERKEY", "HEURISTKEY", "IONETKEY",
                                          "ANTHROPICKEY", "GEMINIKEY"]),
}  # fmt: skip  # a table laid out by hand in rows
_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 8
_CALLS: list[tuple[str, dict[str, Any]]] = [
    *(("ExecPrompt", {"prompt": "Say hi.", "response_format": f, "images": i})
      for f in ("text", "json") for i in ([], [_PNG])),
    ("ExecPromptTemplate", {"template": "EqComparative", "leader_answer": "a",
                            "validator_answer": "a", "principle": "same"}),
    ("ExecPromptTemplate", {"template": "EqNonComparativeLeader", "task": "t", "criteria": "c",
                            "input": "i"}),
    ("ExecPromptTemplate", {"template": "EqNonComparativeValidator", "task": "t",
                            "criteria": "c", "input": "i", "output": "o"}),
]  # fmt: skip  # a table laid out by hand in rows


@pytest.mark.parametrize("mode", ["policy", "stock"])
@pytest.mark.parametrize(("name", "profile"), [(n, p) for n in sorted(_FAKE) for p in _FAKE[n][0]])
def test_stock_greybox_answers_every_class_under_the_genvm_fake(
    tmp_path: Path, name: str, profile: str, mode: str
) -> None:
    # `policy`: stock-greybox installed as the node's policy; `stock`: no compiled policy,
    # so the hook falls back to stock-greybox over the live view.
    policy_path, salt_path = tmp_path / "policy.lua", tmp_path / "salt"
    if mode == "policy":
        catalog = load_catalog(str(SAMPLES[name]), None)
        policy_path.write_bytes(compile_policy(catalog, builtin("stock-greybox")))
        salt_path.write_bytes(bytes(range(32)))
    hook = tmp_path / "hook.lua"
    hook.write_bytes(build_hook(str(policy_path), str(salt_path)))
    env = {key: "key" for key in _FAKE[name][1]}
    vm = FakeGenVM(hook, SAMPLES[name], profile=profile, env=env)
    assert not [log for log in vm.logs if log.message == UNROUTABLE_MESSAGE]
    for entry, args in _CALLS:
        result = vm.session().call(entry, args)
        assert result.kind == "ok", (entry, args, result.causes, result.message)
        found = [log.fields for log in result.logs if log.message == RECORD_MESSAGE]
        assert len(found) == 1 and found[0]["mode"] == mode and len(result.requests) == 1
        assert found[0]["outcome"]["kind"] == "ok" and len(found[0]["attempts"]) == 1


_BLAME = [  # policy on the partial-chain catalog -> (first refused class, path, op of the term)
    ({"select": "greybox"}, "json", ("select",), "greybox"),
    ({"select": {"chain": ["beta/m1"]}}, "text+image", ("select",), "chain"),
    ({"select": {"weighted": {"route_value": {"routes": {"alpha/vision": 0}, "default": -1}}}},
     "text", ("select",), "weighted"),
    ({"select": {"top_k": {"k": 2, "of": "greybox"}}}, "json", ("select", 2), "greybox"),
    ({"select": {"tiers": [{"filter": "has_tee"}]}}, "text", ("select",), "tiers"),
    # A tier whose selector places nothing passes its members on: no later tier takes them.
    ({"select": {"tiers": [{"filter": "json", "select": "greybox"}, {"filter": {"not": "json"}}]}},
     "json", ("select", 1, 0, 1), "greybox"),
    # normal form sorts `json` before `needs`: the needs still apply first
    ({"filter": ["json", {"provider_in": ["gamma"]}], "select": "stock"},
     "text+image", ("filter", 3), "provider_in"),
]  # fmt: skip  # a table laid out by hand in rows


@pytest.mark.parametrize(("doc", "first", "path", "op"), _BLAME)
def test_the_refusal_names_the_term_that_emptied_the_class(
    doc: dict[str, object], first: str, path: tuple[object, ...], op: str
) -> None:
    catalog = partial_catalog()
    policy = admit(doc, catalog)
    reports = analyse(catalog, policy)
    err = refusal(reports, ())
    assert err is not None and err.code == "POL_UNROUTABLE" and err.path == path
    assert f"`{first}`" in err.message
    bad = next(r for r in reports if r.state == "policy")
    assert bad.name == first and bad.term is not None and bad.term[0] == op
    # Accepting every refused class knowingly lets it through.
    assert refusal(reports, [r.name for r in reports if r.state == "policy"]) is None


def test_a_later_tier_places_what_an_earlier_tier_s_selector_cut() -> None:
    catalog = partial_catalog()
    doc = {"select": {"tiers": [{"filter": "json", "select": "greybox"}, {"filter": "true"}]}}
    reports = analyse(catalog, admit(doc, catalog))
    assert all(r.state != "policy" for r in reports)
    assert refusal(reports, ()) is None


def test_a_class_one_role_cannot_route_is_refused_naming_the_role() -> None:
    catalog = partial_catalog()
    policy = admit({"filter": {"role_in": ["leader"]}, "select": "stock"}, catalog)
    reports = analyse(catalog, policy)
    err = refusal(reports, ())
    assert err is not None and err.code == "POL_UNROUTABLE" and err.path == ("filter", 2)
    assert "`text (role validator)`" in err.message
    text = next(r for r in reports if r.name == "text")
    assert text.state == "policy" and text.role == "validator"
    assert report_lines(reports)[0].startswith("text (role validator): NO ROUTE")
    # A policy that reads no role reports each class once, without a role.
    plain = analyse(catalog, admit({"filter": {"provider_in": ["gamma"]}}, catalog))
    assert any(r.state == "policy" for r in plain) and all(r.role is None for r in plain)


def test_a_class_no_route_of_the_node_can_serve_is_reported_not_refused() -> None:
    catalog = load_catalog(str(SAMPLES["v2-sample"]), None)
    text_only = build_catalog(
        {
            "backends": {
                "b": {
                    "provider": "openai-compatible",
                    "key": "k",
                    "models": {"m": {"supports_json": True}},
                }
            }
        }
    )
    reports = analyse(text_only, builtin("stock-greybox"))
    states = {r.name: r.state for r in reports}
    assert states["text+image"] == states["json+image"] == "node" and states["text"] == "routed"
    assert refusal(reports, ()) is None
    assert any("stock fails it too" in line for line in report_lines(reports))
    assert refusal(analyse(catalog, builtin("stock-greybox")), ()) is None


def test_the_grid_names_the_first_case_where_a_runtime_differs(tmp_path: Path) -> None:
    catalog = load_catalog(str(SAMPLES["v2-sample"]), None)
    policy = builtin("stock-greybox")
    modules, entry = runtime_sources()
    right = 'smallest(limit, pop, tabulate.column(b, "priority", 0), -1)'
    wrong = right.replace("-1)", "1)")  # priority low first: a wrong order
    assert modules["selection"].count(right) == 1
    modules["selection"] = modules["selection"].replace(right, wrong)
    hook = tmp_path / "hook.lua"
    hook.write_bytes(assemble(modules, entry, str(tmp_path / "p.lua"), str(tmp_path / "s")))
    got, want = run_installed(hook, grid_input(catalog, policy)), grid_expected(catalog, policy)
    assert got != want and first_difference(got, want) == "class `text`, seed 0 (role leader)"
