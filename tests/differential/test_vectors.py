"""Golden vectors: byte-identical regeneration and replay in every runtime.

Spec: docs/VECTORS.md. Every runtime (`python`, `lupa`'s `lua53` and `lua54`,
the stand-alone `lua5.3`) replays the committed `vectors/` through the CLI in
a subprocess; tampered, malformed and empty inputs must make it fail.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.cli import cli, summary
from support.runtimes import ALIASES, names

from genvm_policy.cli import main as cli_main
from genvm_policy.core import encoding
from genvm_policy.node import runtimes
from genvm_policy.vectors import KINDS
from genvm_policy.vectors.verify import first_difference

ROOT = runtimes.ROOT
VECTORS = ROOT / "vectors"


def edit(directory: Path, kind: str, change: Any) -> None:
    """Decode `directory/<kind>.cbor`, let `change` alter the value, write it back."""
    path = directory / f"{kind}.cbor"
    value = encoding.decode(path.read_bytes())
    change(value)
    path.write_bytes(encoding.encode(value))


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A writable copy of the committed vectors."""
    target = tmp_path / "vectors"
    shutil.copytree(VECTORS, target)
    return target


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    run = cli("vectors", "generate", str(tmp_path))
    assert run.returncode == 0, run.stderr
    made = sorted(p.name for p in tmp_path.glob("*.cbor"))
    assert made == sorted(p.name for p in VECTORS.glob("*.cbor"))
    assert made == sorted(f"{kind.name}.cbor" for kind in KINDS)
    for name in made:
        assert (tmp_path / name).read_bytes() == (VECTORS / name).read_bytes(), name


def test_enough_vectors_with_valid_and_invalid_cases() -> None:
    total = 0
    for kind in KINDS:
        top = encoding.decode((VECTORS / f"{kind.name}.cbor").read_bytes())
        assert isinstance(top, dict) and isinstance(top["cases"], list)
        valid = [case["valid"] for case in top["cases"] if isinstance(case, dict)]
        assert True in valid, kind.name
        # Hashes and the family rule (SPEC §5.8: total on names) have no way to fail.
        if kind.name not in ("sha256", "hmac", "family"):
            assert False in valid, kind.name
        total += len(valid)
    assert total >= 1000


def test_verify_passes(runtime: str) -> None:
    run = cli("vectors", "verify", "--runtime", runtime, str(VECTORS))
    passed, failed = summary(run)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    assert failed == 0
    assert passed >= (1000 if runtime == "python" else 900)


@pytest.mark.parametrize(("alias", "target"), sorted(ALIASES.items()))
def test_an_alias_verifies_as_its_runtime(alias: str, target: str) -> None:
    run = cli("vectors", "verify", "--runtime", alias, str(VECTORS))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    assert re.search(rf"^{target}: \d+ passed, 0 failed", run.stdout, re.M), run.stdout[-2000:]
    passed, failed = summary(run)
    assert failed == 0 and passed >= 900


def test_verify_all_runs_every_runtime() -> None:
    run = cli("vectors", "verify", "--runtime", "all", str(VECTORS))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    for runtime in names():
        assert re.search(rf"^{runtime}: \d+ passed, 0 failed", run.stdout, re.M), runtime
    passed, failed = summary(run)
    assert failed == 0 and passed > 5 * 900


def test_tampered_vector_fails_with_its_name(copy: Path, runtime: str) -> None:
    def tamper(top: Any) -> None:
        case = next(c for c in top["cases"] if c["name"] == "mul_wrap_at_path")
        case["error"]["path"][1] = "anthropic"

    edit(copy, "numeric", tamper)
    run = cli("vectors", "verify", "--runtime", runtime, str(copy))
    assert run.returncode == 1
    assert summary(run)[1] == 1
    assert "FAIL numeric/mul_wrap_at_path: error.path[1]" in run.stdout


@pytest.mark.runtimes("reference", "lua53")
def test_empty_directory_fails(tmp_path: Path, runtime: str) -> None:
    run = cli("vectors", "verify", "--runtime", runtime, str(tmp_path))
    assert run.returncode == 1
    assert summary(run) == (0, 0)


def test_missing_directory_is_a_user_error(tmp_path: Path) -> None:
    run = cli("vectors", "verify", str(tmp_path / "absent"))
    assert run.returncode == 2
    assert "VEC_IO" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.runtimes("reference", "process")
def test_unknown_field_is_rejected(copy: Path, runtime: str) -> None:
    edit(copy, "seed", lambda top: top["cases"][3].update(extra=1))
    run = cli("vectors", "verify", "--runtime", runtime, str(copy))
    assert run.returncode == 1
    assert "unknown field `extra`" in run.stdout
    assert summary(run)[1] == 1


@pytest.mark.runtimes("reference", "process")
def test_count_is_checked(copy: Path, runtime: str) -> None:
    edit(copy, "hmac", lambda top: top.update(count=top["count"] + 1))
    run = cli("vectors", "verify", "--runtime", runtime, str(copy))
    assert run.returncode == 1
    assert "`count`" in run.stdout
    assert summary(run)[1] == 1


def test_reference_only_kind_is_not_run_on_lua(copy: Path) -> None:
    shutil.rmtree(copy / "regressions")
    for path in copy.glob("*.cbor"):
        if path.name != "decimal.cbor":
            path.unlink()
    run = cli("vectors", "verify", "--runtime", "lua53", str(copy))
    assert run.returncode == 1, "a run that executes no vector must fail"
    assert "reference-only not run" in run.stdout
    assert summary(run) == (0, 0)


def test_missing_interpreter_is_named() -> None:
    with pytest.raises(runtimes.MissingInterpreter, match=r"lua5\.3-absent"):
        runtimes.run_standalone(
            ROOT / "dispatch/vectors/verify.lua", [], interpreter="lua5.3-absent"
        )


def test_unbuilt_mlua_runtime_fails_naming_the_build(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runtimes, "MLUA_BINARY", ROOT / "dispatch" / "mlua-host" / "absent")
    status = cli_main(["vectors", "verify", "--runtime", "mlua", str(VECTORS)])
    out = capsys.readouterr().out
    assert status == 1 and out.endswith("0 passed, 1 failed\n")
    assert "FAIL mlua: the mlua runtime is not built: in a checkout, run `cargo build" in out


def test_first_difference_names_the_field() -> None:
    want = {"output": [1, {"a": b"\x00", "b": 2}]}
    got = {"output": [1, {"a": b"\x00", "b": 3}]}
    assert first_difference(want, got) == "output[1].b: expected 2, got 3"
    assert first_difference({"output": 1}, {"error": 1}).startswith("error: expected null")


def test_docs_table_matches_the_registry() -> None:
    text = (ROOT / "docs" / "VECTORS.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9]+)` \| (§[0-9.]+) \| ([a-z, ]+) \| (.+) \|$", text, re.M)
    listed = [
        (name, spec, tuple(r.strip() for r in runs.split(",")), what)
        for name, spec, runs, what in rows
    ]
    assert listed == [(k.name, k.spec, k.runtimes, k.description) for k in KINDS]


def test_lua_runner_declares_the_lua_kinds() -> None:
    lua = runtimes.new_state("lua53")
    declared = lua.execute(
        'local k, out = require("vectors.runner").KINDS, {}'
        " for _, name in ipairs({...}) do out[#out + 1] = k[name] or '-' end"
        " return table.concat(out, ' ')",
        *[k.name for k in KINDS],
    )
    expected = " ".join(k.spec if "lua" in k.runtimes else "-" for k in KINDS)
    assert declared == expected
