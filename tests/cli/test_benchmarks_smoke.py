"""Smoke test of the benchmarks: `benchmarks/run --quick --sizes 10 --json` works.

Runs the real command in a subprocess on the smallest catalog only and checks
the shape of what it writes; no timing is asserted (these machines are noisy).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMES = {
    "decide", "hook_call", "hook_start", "vectors_replay", "admission", "diversity", "replay_log",
}  # fmt: skip  # a table laid out by hand in rows
KEYS = {"name", "runtime", "routes", "policy", "median_us", "p95_us", "peak_kib"}


def test_quick_run_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [str(ROOT / "benchmarks" / "run"), "--quick", "--sizes", "10", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| decide | python | 10 | stock-greybox |" in proc.stdout
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(rows, list)
    assert {r["name"] for r in rows} == NAMES
    for row in rows:
        assert KEYS <= set(row), row
        assert row["runtime"] in ("python", "lua53", "mlua")
        # A row is either measured (numbers) or says why not: never both, never neither.
        assert (row["median_us"] is None) == (row["why"] is not None), row
    mlua = {r["name"] for r in rows if r["runtime"] == "mlua" and r["median_us"] is not None}
    assert mlua == {"hook_call", "hook_start"}, [r for r in rows if r["runtime"] == "mlua"]
    assert "hook_start at 10 routes: mlua " in proc.stdout
    decides = [r for r in rows if r["name"] == "decide"]
    assert {(r["runtime"], r["policy"]) for r in decides} == {
        (rt, p)
        for rt in ("python", "lua53")
        for p in ("stock-greybox", "scored-argmax", "tiered-weighted", "sampled-jitter")
    }
    assert all(r["routes"] == 10 for r in decides)
    python = [r for r in decides if r["runtime"] == "python"]
    assert all(r["median_us"] > 0 and r["p95_us"] >= r["median_us"] for r in python)


def test_unknown_size_is_refused() -> None:
    proc = subprocess.run(
        [str(ROOT / "benchmarks" / "run"), "--quick", "--sizes", "7"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "--sizes takes sizes from [10, 100, 1000, 10000], got `7`" in proc.stderr
