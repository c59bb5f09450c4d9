"""CLI `check`, `hash policy`, `decide --json` and `explain`, through a subprocess."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.cli import cli

ROOT = Path(__file__).resolve().parents[2]
NODE = str(ROOT / "examples/node/genvm-module-llm.yaml")
OVERLAY = str(ROOT / "examples/node/overlay.yaml")
POLICIES = sorted((ROOT / "examples/policies").iterdir())
ID = re.compile(r"sha256:[0-9a-f]{64}")


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_examples_pass_check_against_the_example_catalog(policy: Path) -> None:
    # `tee-only` has no TEE route for image prompts on the example node, `tee-for-images`
    # no trusted vision route with JSON: each must say so and be accepted knowingly,
    # class by class (SPEC §9.4).
    accepted = {
        "tee-only": [f"{f}+image" for f in ("text", "json", "bool")],
        "tee-for-images": ["json+image", "bool+image"],
    }.get(policy.stem, [])
    if accepted:
        refused = cli("check", str(policy), "--catalog", NODE, "--overlay", OVERLAY)
        assert refused.returncode == 2 and "POL_UNROUTABLE" in refused.stderr
    allow = [a for c in accepted for a in ("--allow-unroutable", c)]
    out = cli("check", str(policy), "--catalog", NODE, "--overlay", OVERLAY, *allow)
    assert out.returncode == 0, out.stderr
    assert ID.fullmatch(out.stdout.strip())
    assert cli("hash", "policy", str(policy)).stdout == out.stdout


def test_stock_chain_example_is_the_builtin() -> None:
    example = cli("hash", "policy", "examples/policies/stock-chain.yaml").stdout
    assert example == cli("hash", "policy", "stock-greybox").stdout


def test_respelled_file_has_the_same_identity(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("filter: [json, {le: {price_in: 0.150}}]\n")
    b = tmp_path / "b.json"
    b.write_text('{"filter": [{"le": {"price_in": "0.15"}}, "json", "json"]}')
    c = tmp_path / "c.toml"
    c.write_text('filter = [{ le = { price_in = 0.15 } }, "json"]\n')
    outs = {cli("hash", "policy", str(p)).stdout for p in (a, b, c)}
    assert len(outs) == 1 and ID.fullmatch(outs.pop().strip())


def test_check_reports_code_path_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("filter:\n  - {ge: {speed: 3}}\n")
    out = cli("check", str(bad), "--catalog", NODE, "--overlay", OVERLAY)
    assert out.returncode == 2 and out.stdout == ""
    assert "POL_FIELD at $.filter[0].ge.speed" in out.stderr
    assert "Traceback" not in out.stderr


def test_decide_json_contract_and_determinism() -> None:
    args = (
        "decide",
        "--catalog",
        NODE,
        "--overlay",
        OVERLAY,
        "--policy",
        "stock-greybox",
        "--format",
        "json",
        "--images",
        "1",
        "--seed",
        "00ff17",
        "--json",
    )
    first, second = cli(*args), cli(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and first.stdout.count("\n") == 1
    doc = json.loads(first.stdout)
    assert doc["attempts"] and all(
        {"provider", "model", "params"} <= set(a) for a in doc["attempts"]
    )
    assert all(
        isinstance(v, int)
        for a in doc["attempts"]
        for k, v in a["params"].items()
        if k in ("temperature", "max_tokens", "seed")
    )
    assert all({"provider", "model", "reason"} <= set(r) for r in doc["rejected"])
    assert isinstance(doc["scores"], list)
    for name in ("catalog", "policy", "request", "decision"):
        assert ID.fullmatch(doc["identities"][name])
    assert "." not in re.sub(r'"[^"]*"', "", first.stdout)  # no floats anywhere
    other = cli(*args[:-3], "--seed", "01", "--json")
    assert json.loads(other.stdout)["identities"]["decision"] != doc["identities"]["decision"]


def test_decide_rejects_a_bad_seed() -> None:
    out = cli("decide", "--catalog", NODE, "--policy", "stock-greybox", "--seed", "zz", "--json")
    assert out.returncode == 2 and "PRNG_KEY" in out.stderr


def test_decide_reads_a_request_file(tmp_path: Path) -> None:
    req = tmp_path / "req.yaml"
    req.write_text("entry: EqComparative\ntemperature: 0.2\n")
    out = cli(
        "decide",
        "--catalog",
        NODE,
        "--overlay",
        OVERLAY,
        "--policy",
        "stock-greybox",
        "--request",
        str(req),
        "--json",
    )
    doc = json.loads(out.stdout)
    assert doc["request"]["format"] == "bool" and doc["request"]["temperature"] == 200


def test_decide_bounds_only_the_fields_a_term_reads(tmp_path: Path) -> None:
    # SPEC §7.2: a built-in field outside the language's bounds refuses the decision only
    # when a term reads it; a `model_in` list spelled like a `field` term reads nothing.
    node = tmp_path / "node.yaml"
    node.write_text(
        "backends:\n  lab:\n    provider: openai-compatible\n    key: k\n"
        "    models: {field: {}, price_in: {}}\n"
    )
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text('version: 1\nmodels: {field: {price_in: "2000000"}}\n')
    names = tmp_path / "names.yaml"
    names.write_text("filter: {model_in: [field, price_in]}\n")
    reads = tmp_path / "reads.yaml"
    reads.write_text("filter: {has: price_in}\n")
    base = ("decide", "--catalog", str(node), "--overlay", str(overlay), "--seed", "00")
    out = cli(*base, "--policy", str(names), "--json")
    assert out.returncode == 0, out.stderr
    assert [a["model"] for a in json.loads(out.stdout)["attempts"]] == ["field", "price_in"]
    refused = cli(*base, "--policy", str(reads), "--json")
    assert refused.returncode == 2 and refused.stdout == ""
    assert "NUM_RANGE at $.routes.lab.field.price_in" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_explain_shows_every_sample_request() -> None:
    out = cli(
        "explain",
        "--catalog",
        NODE,
        "--overlay",
        OVERLAY,
        "--policy",
        "examples/policies/cheap-first.yaml",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("request  entry=") == 7
    for word in (
        "attempts (in order):",
        "rejected:",
        "scores (integers;",
        "decision  sha256:",
        "EqNonComparativeValidator",
        "images=1",
        "routes (every one, where it ended):",
        "on failure:",
        "overloaded (rate_limited, unavailable, timeout): next",
    ):
        assert word in out.stdout


def test_explain_names_where_every_route_ended(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        'select: {chain: ["router/openai/gpt-4.1-mini", '
        '"router/anthropic/claude-sonnet-4"]}\nmax_attempts: 1\n'
    )
    out = cli(
        "explain", "--catalog", NODE, "--overlay", OVERLAY, "--policy", str(policy), "--images", "1"
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    ended = {
        ln.split()[0]: ln.strip().split("  ", 1)[1]
        for ln in lines
        if ln.startswith("    ")
        and ("attempt " in ln or "rejected:" in ln or "cut by" in ln)
        and "/" in ln
    }
    assert ended["router/openai/gpt-4.1-mini"] == "attempt 1"
    assert ended["router/anthropic/claude-sonnet-4"].startswith("cut by max_attempts 1")
    assert (
        ended["gateway/meta-llama/llama-3.3-70b-instruct"] == "rejected: needs: lacks image support"
    )


def test_explain_simulates_scripted_outcomes_through_the_cascade(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        'select: {chain: ["router/openai/gpt-4.1-mini", "gateway/meta-llama/'
        'llama-3.3-70b-instruct"]}\non_failure: {rate_limited: skip_provider,\n'
        "  server: {retry: {attempts: 2, backoff_ms: 1000}}}\n"
    )
    args = ("explain", "--catalog", NODE, "--overlay", OVERLAY, "--policy", str(policy))
    out = cli(
        *args,
        "--outcomes",
        "router/openai/gpt-4.1-mini=429,"
        "gateway/meta-llama/llama-3.3-70b-instruct=500+retry_after=2",
    )
    assert out.returncode == 0, out.stderr
    assert "1. attempt 1 router/openai/gpt-4.1-mini: rate_limited -> skip_provider" in out.stdout
    # Retry-After 2 s is over the 1,000 ms cap: no early retry, the follow-up at once.
    assert "gateway/meta-llama/llama-3.3-70b-instruct: server -> next" in out.stdout
    assert "outcome: NO_PROVIDER_FOR_PROMPT (last class server)" in out.stdout
    script = tmp_path / "outcomes.yaml"
    script.write_text('"router/openai/gpt-4.1-mini": [content_filter]\n')
    out = cli(*args, "--format", "json", "--outcomes-file", str(script))
    assert (
        "content_filter -> abort" in out.stdout
        and "outcome: aborted on content_filter" in out.stdout
    )
    bad = cli(*args, "--outcomes", "router/openai/gpt-4.1-mini=teapot")
    assert bad.returncode != 0 and "CLI_USAGE" in bad.stderr and "unknown outcome" in bad.stderr


def test_check_warns_about_routes_cut_by_max_attempts_and_a_dead_plan_entry(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("max_attempts: 1\non_failure: {non_user: next}\n")
    out = cli("check", str(policy), "--catalog", NODE, "--overlay", OVERLAY)
    assert out.returncode == 0 and ID.fullmatch(out.stdout.strip())
    assert "warning: prompt/text: max_attempts 1 cuts" in out.stderr
    assert "on_failure.non_user never applies" in out.stderr
    assert cli("check", str(policy)).stderr == ""  # without a catalog: nothing to weigh


def test_explain_gives_the_first_failing_part_as_written(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    # router/anthropic/claude-sonnet-4 fails both; the file names the price first.
    policy.write_text('filter:\n  - {le: {price_in: "1.0"}}\n  - no_log\n')
    out = cli(
        "explain",
        "--catalog",
        NODE,
        "--overlay",
        OVERLAY,
        "--policy",
        str(policy),
        "--format",
        "json",
    )
    assert out.returncode == 0, out.stderr
    assert "router/anthropic/claude-sonnet-4  rejected: {le: {price_in: 1.0}}" in out.stdout
    assert "router/openai/gpt-4.1-mini  rejected: no_log" in out.stdout
