"""The frozen regressions of `vectors/regressions/`: append-only, and replayed by every runtime.

Spec: docs/VECTORS.md ("Regressions"), `genvm_policy/vectors/regressions.py`.
Each regression is a divergence once found between runtimes, or a bug once
found in one, kept as a vector file of an existing kind that no generator
rewrites. The index must match the files byte for byte, may only grow at its
end (checked against every version of it on the first-parent history), and
`genvm-policy vectors verify` must replay the set in `python`, `lupa`'s `lua53`
and `lua54`, the stand-alone `lua5.3` and `mlua`, with no skip list.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from support.cli import cli, summary

from genvm_policy.cli import main as cli_main
from genvm_policy.cli.commands import vectors as vectors_command
from genvm_policy.core import encoding
from genvm_policy.node import runtimes
from genvm_policy.vectors import KINDS, read_file, regressions
from genvm_policy.vectors.kinds import spec_sections

ROOT = runtimes.ROOT
FROZEN = ROOT / "vectors" / regressions.FOLDER
INDEX_PATH = f"vectors/{regressions.FOLDER}/{regressions.INDEX}"


def committed() -> tuple[str, dict[str, bytes]]:
    """The committed `INDEX` text and every other file of the folder by name."""
    files = {p.name: p.read_bytes() for p in FROZEN.iterdir() if p.name != regressions.INDEX}
    return (FROZEN / regressions.INDEX).read_text(encoding="utf-8"), files


def cases_for(family: str) -> int:
    """How many frozen cases a runtime of `family` must run (the others are not run)."""
    total = 0
    for path in FROZEN.glob("*.cbor"):
        file = read_file(path.read_bytes(), spec_sections())
        total += len(file.cases) if family in file.runtimes else 0
    return total


@pytest.fixture
def alone(tmp_path: Path) -> Path:
    """A vectors folder that holds only a copy of the frozen regressions."""
    target = tmp_path / "vectors"
    shutil.copytree(FROZEN, target / regressions.FOLDER)
    return target


# -- the set and its index ----------------------------------------------------------


def test_the_committed_set_matches_its_index() -> None:
    index, files = committed()
    assert regressions.check(index, files) == []
    assert len(files) >= 5
    kinds = {kind.name for kind in KINDS}
    for name, data in files.items():
        file = read_file(data, spec_sections())
        assert file.kind in kinds, name
        for case in file.cases:
            assert case.name.startswith(f"r{name[:4]}."), (name, case.name)


def _git(*args: str) -> str:
    run = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, f"the append-only check reads git history: {run.stderr}"
    return run.stdout


def test_the_index_only_ever_grew_at_its_end() -> None:
    # Numbering (rule 2) catches a line moved or taken out of the middle; history also
    # catches the last lines cut off and a file renumbered: every committed version of
    # the index on the first-parent line must be a prefix of today's.
    assert shutil.which("git"), "the append-only check needs git and a checkout"
    current = (FROZEN / regressions.INDEX).read_text(encoding="utf-8")
    commits = _git("log", "--first-parent", "--format=%H", "--", INDEX_PATH).split()
    for commit in commits:
        listed = _git("ls-tree", "--name-only", commit, "--", INDEX_PATH).strip()
        if not listed:
            continue  # the commit that deleted it would fail below: today's file exists
        old = _git("show", f"{commit}:{INDEX_PATH}")
        assert current.startswith(old), f"{INDEX_PATH} of {commit[:12]} is not a prefix of today's"


def _breach(index: str, files: dict[str, bytes]) -> list[tuple[str, str, str]]:
    return [(e.code, str(e.path[-1]), e.message) for e in regressions.check(index, files)]


def test_a_changed_file_is_frozen_breach() -> None:
    index, files = committed()
    name = sorted(files)[0]
    files[name] = files[name][:-1] + bytes([files[name][-1] ^ 1])
    assert _breach(index, files) == [
        ("VEC_FROZEN", name, f"`{name}` differs from the bytes `INDEX` froze")
    ]


def test_a_missing_and_an_unlisted_file_are_breaches() -> None:
    index, files = committed()
    last = sorted(files)[-1]
    del files[last]
    files["9999-extra.cbor"] = b"\xa0"
    got = _breach(index, files)
    assert [(code, where) for code, where, _ in got] == [
        ("VEC_FROZEN", last),
        ("VEC_FROZEN", "9999-extra.cbor"),
    ]
    assert "missing" in got[0][2] and "not listed" in got[1][2]


def test_reordered_and_removed_lines_break_the_numbering() -> None:
    index, files = committed()
    lines = index.splitlines(keepends=True)
    swapped = "".join([lines[1], lines[0], *lines[2:]])
    got = _breach(swapped, files)
    assert [where for _, where, _ in got[:2]] == [regressions.INDEX, regressions.INDEX]
    assert "line 1 must be" in got[0][2] and "line 2 must be" in got[1][2]
    removed = "".join([lines[0], *lines[2:]])
    got = _breach(removed, files)
    assert any("line 2 must be" in message for _, _, message in got)
    assert ("VEC_FROZEN", sorted(files)[1]) in [(c, w) for c, w, _ in got]  # now unlisted


def test_an_index_must_exist_and_end_its_last_line() -> None:
    index, files = committed()
    assert [m for _, _, m in _breach(index.rstrip("\n"), files)] == [
        "`INDEX` must end with a newline"
    ]
    assert [e.path for e in regressions.check(None, files)] == [
        (regressions.FOLDER, regressions.INDEX)
    ]
    assert regressions.check(None, {}) == []  # a vectors folder may have no regressions


def test_freeze_names_the_next_file_and_prefixes_its_cases() -> None:
    index, files = committed()
    name = regressions.next_name(index, "an-example")
    assert name == f"{len(files) + 1:04d}-an-example.cbor"
    data = regressions.freeze(name, "numeric", [("neg", "neg of one", {"op": "neg", "args": [1]})])
    file = read_file(data, spec_sections())
    assert [(c.name, c.expected) for c in file.cases] == [(f"r{name[:4]}.neg", {"output": -1})]
    grown = index + regressions.entry_line(name, data)
    assert regressions.check(grown, {**files, name: data}) == []
    assert grown.endswith(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    with pytest.raises(ValueError, match="slug"):
        regressions.next_name(index, "Upper Case")


# -- replay in every runtime ------------------------------------------------------


def test_every_runtime_replays_the_regressions(alone: Path, runtime: str) -> None:
    run = cli("vectors", "verify", "--runtime", runtime, str(alone))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    want = cases_for("python" if runtime == "python" else "lua")
    assert summary(run) == (want, 0)
    assert want >= 20


# a breach is `verify`'s own check, so two runtimes (the reference and one Lua
# process) show it is reported whichever one replays
@pytest.mark.runtimes("reference", "process", without=("cargo",))
def test_a_changed_regression_fails_verify_by_name(alone: Path, runtime: str) -> None:
    path = sorted((alone / regressions.FOLDER).glob("0001-*.cbor"))[0]
    top = encoding.decode(path.read_bytes())
    assert isinstance(top, dict) and isinstance(top["cases"], list)
    top["cases"][0]["description"] = "edited by hand"
    path.write_bytes(encoding.encode(top))
    run = cli("vectors", "verify", "--runtime", runtime, str(alone))
    assert run.returncode == 1
    assert f"FAIL regressions/{path.name}: VEC_FROZEN" in run.stdout
    assert summary(run)[1] == 1  # the breach; the edited description still replays


def test_a_wrong_expectation_in_a_regression_fails_its_case(alone: Path) -> None:
    path = sorted((alone / regressions.FOLDER).glob("0001-*.cbor"))[0]
    top = encoding.decode(path.read_bytes())
    assert isinstance(top, dict) and isinstance(top["cases"], list)
    top["cases"][0]["error"]["path"] = ["format"]
    path.write_bytes(encoding.encode(top))
    run = cli("vectors", "verify", "--runtime", "lua53", str(alone))
    assert run.returncode == 1 and summary(run)[1] == 2
    assert "FAIL request/r0001.entry_empty: error.path[0]" in run.stdout


# -- the generator keeps them -----------------------------------------------------


def test_generate_copies_the_regressions_unchanged(tmp_path: Path) -> None:
    run = cli("vectors", "generate", str(tmp_path))
    assert run.returncode == 0, run.stderr
    copied = tmp_path / regressions.FOLDER
    assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in FROZEN.iterdir())
    for path in FROZEN.iterdir():
        assert (copied / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_broken_source_set_stops_generate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source"
    shutil.copytree(FROZEN, source / regressions.FOLDER)
    first = sorted((source / regressions.FOLDER).glob("0001-*.cbor"))[0]
    first.write_bytes(first.read_bytes() + b"\x00")
    monkeypatch.setattr(vectors_command, "resource", lambda name: source)
    assert cli_main(["vectors", "generate", str(tmp_path / "out")]) == 2
    assert "VEC_FROZEN" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything is written
