"""Every hook scenario gives the same report under the Python fake and the mlua host.

The scenarios are data (`tests/data/hook-scenarios/*.json`, see `hookscenarios.py`), so a
new file runs under both hosts in every profile without code. The mlua host is GenVM's
own embedding (mlua 0.10.3, Lua 5.3, serde-decoded requests, async host functions,
opaque error userdata); a disagreement is a bug in one host or in the hook.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from genvmfake import PROFILES
from hookscenarios import SCENARIOS, comparable, fake_report, mlua_report, resolve

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
