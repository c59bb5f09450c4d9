"""`decide --json --runtime …` prints byte-identical JSON in every runtime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.runtimes import names

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "examples" / "node"
POLICIES = [*sorted(str(p) for p in (ROOT / "examples" / "policies").iterdir()), "stock-greybox"]
REQUESTS = {
    "cheap-first.yaml": ["--entry", "prompt", "--format", "json"],
    "jittered.toml": ["--entry", "EqNonComparativeLeader", "--images", "1"],
    "stock-chain.yaml": ["--format", "text", "--images", "2"],
    "tee-only.yaml": ["--entry", "EqComparative"],
    "stock-greybox": ["--entry", "EqNonComparativeValidator", "--prompt-bytes", "4096"],
    # The cookbook's recipes (docs/POLICIES.md), each on the request it is about.
    "fallback-on-429.yaml": ["--format", "json"],
    "tee-for-images.yaml": ["--images", "1"],
    "cheapest-that-fits.yaml": ["--prompt-bytes", "600000"],
    "leader-stronger.yaml": ["--role", "leader"],
    "jittered-temperature.yaml": ["--format", "text"],
    "premium-then-rest.yaml": ["--entry", "EqComparative"],
    "retry-5xx-only.yaml": ["--images", "1"],
    "stop-on-content-filter.yaml": ["--role", "validator", "--max-tokens", "500"],
    "family-spread.yaml": ["--format", "json"],
    "pin-one-route.yaml": ["--prompt-bytes", "10"],
}


def decide(policy: str, runtime: str, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [
        sys.executable,
        "-m",
        "genvm_policy.cli",
        "decide",
        "--catalog",
        str(NODE / "genvm-module-llm.yaml"),
        "--overlay",
        str(NODE / "overlay.yaml"),
        "--policy",
        policy,
        "--seed",
        "5eed00ff",
        "--runtime",
        runtime,
        *REQUESTS[Path(policy).name],
        *extra,
    ]
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: Path(p).name)
def test_every_runtime_prints_the_same_bytes(policy: str) -> None:
    outputs = {}
    for runtime in names():
        got = decide(policy, runtime, "--json")
        assert got.returncode == 0, got.stderr
        outputs[runtime] = got.stdout
    assert outputs["python"].startswith('{"attempts":[')
    assert outputs["lua53"] == outputs["python"]
    assert outputs["lua54"] == outputs["python"]
    assert outputs["mlua"] == outputs["python"]
    assert outputs["lua-standalone"] == outputs["python"]


def test_a_missing_stand_alone_interpreter_is_a_clean_error(tmp_path: Path) -> None:
    got = subprocess.run(
        [
            sys.executable,
            "-m",
            "genvm_policy.cli",
            "decide",
            "--catalog",
            str(NODE / "genvm-module-llm.yaml"),
            "--policy",
            "stock-greybox",
            "--json",
            "--runtime",
            "lua-standalone",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"PATH": str(tmp_path)},
    )
    assert got.returncode == 2 and got.stdout == ""
    assert "RUNTIME_UNAVAILABLE" in got.stderr and "`lua5.3` is not installed" in got.stderr
    assert "Traceback" not in got.stderr


def test_a_lua_runtime_needs_json() -> None:
    got = decide("stock-greybox", "lua")
    assert got.returncode == 2
    assert "CLI_USAGE" in got.stderr and "Traceback" not in got.stderr


def test_an_unbuilt_mlua_runtime_is_a_named_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from genvm_policy.cli import main
    from genvm_policy.node import runtimes

    monkeypatch.setattr(runtimes, "MLUA_BINARY", ROOT / "dispatch" / "mlua-host" / "absent")
    status = main(
        [
            "decide",
            "--catalog",
            str(NODE / "genvm-module-llm.yaml"),
            "--policy",
            "stock-greybox",
            "--runtime",
            "mlua",
            "--json",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "RUNTIME_UNAVAILABLE" in err and "cargo build --release --locked" in err
