"""Every hook scenario gives the same report under the Python fake and the mlua host.

The scenarios are data (`tests/data/hook-scenarios/*.json`, see `hookscenarios.py`), so a
new file runs under both hosts in every profile without code. The mlua host is GenVM's
own embedding (mlua 0.10.3, Lua 5.3, serde-decoded requests, async host functions,
opaque error userdata); a disagreement is a bug in one host or in the hook.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.genvmfake import PROFILES
from support.hooknode import PROMPT
from support.hookscenarios import SCENARIOS, comparable, fake_report, mlua_report, resolve
from support.nodefixtures import make_node

from genvm_policy.node.hookmodel import RECORD_MESSAGE

FILES = sorted(SCENARIOS.glob("*.json"))


def test_there_are_scenarios() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_both_hosts_report_alike(path: Path, profile: str, tmp_path: Path) -> None:
    definition: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    sc = resolve(definition, profile, tmp_path)
    fake, mlua = fake_report(sc), mlua_report(sc, tmp_path)
    want_start = definition.get("expect_start", "ok")
    assert mlua["start"]["kind"] == fake["start"]["kind"] == want_start, (fake, mlua)
    kinds = [s["kind"] for s in fake["steps"]]
    if "expect" in definition:
        assert kinds == definition["expect"], fake["steps"]
    for report in (fake, mlua):
        for step in report["steps"]:
            if step["kind"] == "fatal_error" and "expect_message" in definition:
                assert definition["expect_message"] in step["message"], step
    assert comparable(mlua) == comparable(fake)


@pytest.mark.parametrize(("line", "profile"), [("v1", "v1"), ("v2", "v2-new")])
def test_an_installed_node_tree_runs_alike_under_both_hosts(
    line: str, profile: str, tmp_path: Path
) -> None:
    """`genvm-policy install` on a node tree, then each host runs what the tree's config
    names, as GenVM's module does: the hook at `lua_script_path`, the config beside it."""
    node = make_node(tmp_path / "node", {"0.5.7": line})
    genvm = node / "0.5.7" / "third_party" / "genvm"
    config = genvm / "config" / "genvm-module-llm.yaml"
    policy = tmp_path / "p"
    for args in (
        ["init", "--node-config", str(config), "-o", str(policy)],
        ["install", "--node-root", str(node), "--policy", str(policy / "policy.yaml")],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "genvm_policy.cli", *args],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    script = yaml.safe_load(config.read_text(encoding="utf-8"))["lua_script_path"]
    hook = script.replace("${exeDir}", str(genvm / "bin")).replace("${genvmRoot}", str(genvm))
    assert "genvm-policy" in Path(hook).read_text(encoding="utf-8")
    steps = [{"session": 0, "entry": "ExecPrompt", "args": PROMPT}]
    env = {k: "key" for k in ("OPENROUTERKEY", "HEURISTKEY", "GEMINIKEY", "OPENAIKEY")}
    sc = {
        "name": "installed",
        "profile": profile,
        "genvm_root": str(genvm),
        "env": env,
        "seed": 3,
        "sessions": [{}],
        "steps": steps,
        "script": [],
    }
    mlua = mlua_report(sc, tmp_path)
    fake = fake_report(
        {**sc, "hook": hook, "config": str(config), "root": str(genvm), "lua_path": None}
    )
    assert mlua["start"]["kind"] == "ok", mlua["start"]
    assert [s["kind"] for s in mlua["steps"]] == ["ok"]
    modes = [
        g["fields"].get("mode") for g in mlua["steps"][0]["logs"] if g["message"] == RECORD_MESSAGE
    ]
    assert modes == ["policy"]
    assert comparable(mlua) == comparable(fake)
