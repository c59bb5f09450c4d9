"""Replay: GenVM log lines in, per-record verdicts out (docs/OPERATOR.md, "Replaying").

Records come from the real bundled hook run in a Lua 5.3 sandbox by `demohost`;
log lines are written as GenVM's logger writes them; the CLI runs as a subprocess.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.cli.commands.replay import parse_number
from genvm_policy.core.catalog import genvm_view
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.bundle import build_hook
from genvm_policy.node.compile import compile_policy
from genvm_policy.node.demohost import DemoHost, Outcome
from genvm_policy.node.replay import Record, check, record_from_line, summary, unescape

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples/node/genvm-module-llm.yaml"
OVERLAY = ROOT / "examples/node/overlay.yaml"
POLICY = ROOT / "examples/policies/cheap-first.yaml"
SALT = bytes(range(32))


def genvm_line(record: dict[str, Any], n: int) -> str:
    """One record as GenVM's logger writes it (`script_log: `, fields under `log`)."""
    fields = {k: v for k, v in record.items() if k not in ("level", "message")}
    entry = {
        "level": "info",
        "target": "genvm_modules::llm",
        "message": "script_log: " + record["message"],
        "log": fields,
        "genvm_id": n,
        "file": "src/dflt.rs:1",
        "ts": "1",
    }
    return json.dumps(entry)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("replay")
    config, overlay = load_document(str(CONFIG), what="c"), load_document(str(OVERLAY), what="o")
    assert isinstance(config, dict) and isinstance(overlay, dict)
    catalog = build_catalog(config, overlay)
    policy = admit(load_document(str(POLICY), what="p"), catalog)
    (base / "policy.lua").write_bytes(compile_policy(catalog, policy))
    (base / "salt").write_bytes(SALT)
    (base / "salt").chmod(0o600)
    (base / "hook.lua").write_bytes(build_hook(str(base / "policy.lua"), str(base / "salt")))
    host = DemoHost(str(base / "hook.lua"), genvm_view(catalog))
    records = []
    for n, fmt in enumerate(("text", "json")):
        ctx = host.new_ctx({"tx_id": f"0x{n}", "node_address": "0xaa"}, f"s{n}")
        if n == 0:
            # Every route answers 503 once: the first call's first attempt is overloaded.
            for r in catalog.routes:
                host.script(r.provider, r.model, Outcome("status", 503, "busy"))
        result = host.call(
            "ExecPrompt", {"prompt": "hi", "response_format": fmt, "images": []}, ctx
        )
        records += [r for r in result.logs if r["message"] == "genvm-policy decision"]
    return {"base": base, "catalog": catalog, "policy": policy, "records": records}


def test_hook_records_agree_with_the_reference(node: dict[str, Any]) -> None:
    assert len(node["records"]) == 2
    for n, rec in enumerate(node["records"]):
        verdict = check(Record(n, rec), node["catalog"], node["policy"], SALT, node["catalog"])
        assert verdict.differs is None, verdict
    assert node["records"][0]["attempts"][0]["result"] == "unavailable"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("seed",), "sha256:" + "0" * 64, "seed"),
        (("identities", "policy"), "sha256:" + "1" * 64, "identities.policy"),
        (("attempts",), [], "attempts"),
    ],
)
def test_a_changed_field_is_named(
    node: dict[str, Any], path: tuple[str, ...], value: object, field: str
) -> None:
    rec = copy.deepcopy(node["records"][1])
    target = rec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    verdict = check(Record(7, rec), node["catalog"], node["policy"], SALT, node["catalog"])
    assert verdict.differs == field


def test_a_missing_field_differs_at_that_field(node: dict[str, Any]) -> None:
    rec = dict(node["records"][1])
    del rec["outcome"]
    verdict = check(Record(1, rec), node["catalog"], node["policy"], SALT, node["catalog"])
    assert verdict.differs == "outcome"


def test_another_salt_gives_another_seed(node: dict[str, Any]) -> None:
    rec = node["records"][1]
    verdict = check(Record(1, rec), node["catalog"], node["policy"], bytes(32), node["catalog"])
    assert verdict.differs == "seed"


def test_log_lines_and_escapes() -> None:
    line = {"message": "script_log: genvm-policy decision", "log": {"x": "$$Bytes", "y": ["$$a"]}}
    rec = record_from_line(line, 3)
    assert rec is not None and rec.fields == {"x": "$Bytes", "y": ["$a"]} and rec.line == 3
    flat = {"message": "script_log: genvm-policy decision", "level": "info", "seed": "s"}
    assert record_from_line(flat, 1) == Record(1, {"seed": "s"})
    assert record_from_line({"message": "script_log: genvm-policy fallback"}, 1) is None
    assert unescape({"a": "$x"}) == {"a": "$x"}
    assert [parse_number(t) for t in ("429.0", "1e3", "-2.0", "1.5")] == [429, 1000, -2, "1.5"]


def test_summary_names_the_first_difference(node: dict[str, Any]) -> None:
    ok = check(
        Record(1, node["records"][0]), node["catalog"], node["policy"], SALT, node["catalog"]
    )
    bad = check(Record(2, {}), node["catalog"], node["policy"], SALT, node["catalog"])
    assert summary([ok, bad]) == (
        "1 agreed, 1 differed; first difference: field `material` of the record on line 2"
    )


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genvm_policy.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_cli_replays_a_genvm_log(node: dict[str, Any], tmp_path: Path) -> None:
    base = node["base"]
    lines = ["not json at all", '{"level":"info","message":"other module"}']
    lines += [genvm_line(r, n) for n, r in enumerate(node["records"])]
    log = tmp_path / "llm.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    common = ["--node-config", str(CONFIG), "--overlay", str(OVERLAY), "--policy", str(POLICY)]
    got = run_cli("replay", str(log), *common, "--salt", str(base / "salt"))
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines()[-1] == "2 agreed, 0 differed"
    assert str(SALT.hex()) not in got.stdout

    bad = copy.deepcopy(node["records"][1])
    bad["identities"]["request"] = "sha256:" + "2" * 64
    log.write_text("\n".join([*lines, genvm_line(bad, 9)]) + "\n", encoding="utf-8")
    got = run_cli("replay", str(log), *common, "--salt", str(base / "salt"))
    assert got.returncode == 1
    assert "2 agreed, 1 differed; first difference: field `identities.request`" in got.stdout

    log.write_text("nothing here\n", encoding="utf-8")
    got = run_cli("replay", str(log), *common, "--salt", str(base / "salt"))
    assert got.returncode == 2 and "REPLAY_EMPTY" in got.stderr


def test_hostile_log_lines_are_skipped_with_a_reason(node: dict[str, Any], tmp_path: Path) -> None:
    base = node["base"]
    hostile = [
        '{"a": 1e999}',
        '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"a": 1e300000000}',
        '{"a": ' + "9" * 5000 + "}",
        '{"a": NaN}',
        '{"a": "x" ' + " " * (1 << 20) + "}",
        "{unterminated",
    ]
    lines = [*hostile, *(genvm_line(r, n) for n, r in enumerate(node["records"]))]
    log = tmp_path / "llm.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    common = ["--node-config", str(CONFIG), "--overlay", str(OVERLAY), "--policy", str(POLICY)]
    got = run_cli("replay", str(log), *common, "--salt", str(base / "salt"))
    assert got.returncode == 0, got.stderr
    assert "Traceback" not in got.stderr and got.stdout.splitlines()[-1] == "2 agreed, 0 differed"
    skipped = [ln for ln in got.stdout.splitlines() if ln.startswith("skipped ")]
    reasons = " / ".join(skipped)
    for reason in ("nested deeper than", "a number longer than", "`NaN`", "longer than 1048576"):
        assert reason in reasons, reason
    assert sum(int(ln.split()[1]) for ln in skipped) == len(hostile)
    assert all(ln.count("\n") == 0 and len(ln) < 200 for ln in skipped)
    # An exponent beyond the bound is kept as its text, never expanded.
    assert parse_number("1e300000000") == "1e300000000" and parse_number("1e999") == "1e999"
