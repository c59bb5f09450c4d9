"""The `catalog` and `hash` commands, run as a user runs them: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.fixturepaths import GENVM_FIXTURES

from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import catalog_identity, catalog_value, view_identity
from genvm_policy.loaders.sources import load_document

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = GENVM_FIXTURES / "llm-default-config.yaml"
CONFIG = ROOT / "examples" / "node" / "genvm-module-llm.yaml"
OVERLAY = ROOT / "examples" / "node" / "overlay.yaml"
GREYBOX = ROOT / "tests" / "data" / "genvm" / "genvm-module-llm.v2-greybox.yaml"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genvm_policy.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_hash_catalog_prints_one_stable_line() -> None:
    config = load_document(DEFAULT, what="node config")
    assert isinstance(config, dict)
    expected = catalog_identity(build_catalog(config))
    first, second = _run("hash", "catalog", str(DEFAULT)), _run("hash", "catalog", str(DEFAULT))
    assert first.returncode == 0 and first.stderr == ""
    assert first.stdout == second.stdout == expected + "\n"


def test_hash_catalog_and_view_with_overlay() -> None:
    config = load_document(CONFIG, what="node config")
    overlay = load_document(OVERLAY, what="overlay")
    assert isinstance(config, dict) and isinstance(overlay, dict)
    catalog = build_catalog(config, overlay)
    done = _run("hash", "catalog", str(CONFIG), "--overlay", str(OVERLAY))
    assert done.stdout == catalog_identity(catalog) + "\n"
    view = _run("hash", "view", str(CONFIG))
    assert view.stdout == view_identity(catalog) + "\n"
    assert view.stdout != done.stdout


def _column(header: str, line: str, name: str) -> str:
    """The cell of `line` under the column `name` of an aligned table."""
    return line[header.index(f"  {name}") + 2 :].split()[0]


def test_catalog_show_table_and_json() -> None:
    table = _run("catalog", "show", str(CONFIG), "--overlay", str(OVERLAY))
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["provider", "model"] and len(lines) == 2 + 5 + 2
    assert any(line.startswith("gateway") and "0.1 " in line for line in lines)
    # Every route shows its family and where it came from (SPEC §5.8).
    assert lines[0].split()[7:9] == ["family", "from"]
    origins = [_column(lines[0], line, "from") for line in lines[2:7]]
    assert set(origins) <= {"overlay", "rule", "router"} and "overlay" in origins
    shown = _run("catalog", "show", str(CONFIG), "--overlay", str(OVERLAY), "--json")
    config = load_document(CONFIG, what="node config")
    overlay = load_document(OVERLAY, what="overlay")
    assert isinstance(config, dict) and isinstance(overlay, dict)
    catalog = build_catalog(config, overlay)
    assert json.loads(shown.stdout) == catalog_value(catalog)


def test_catalog_show_family_origins_without_overlay() -> None:
    shown = _run("catalog", "show", str(GREYBOX))
    assert shown.returncode == 0
    head, *lines = shown.stdout.splitlines()
    rows = {
        tuple(line.split()[:2]): (_column(head, line, "family"), _column(head, line, "from"))
        for line in lines[1:-2]
    }
    assert rows[("ionet", "meta-llama/Llama-3.3-70B-Instruct")] == ("llama-3.3-70b", "rule")
    assert rows[("heurist", "meta-llama/llama-3.3-70b-instruct")] == ("llama-3.3-70b", "rule")
    assert rows[("anthropic", "claude-haiku-4-5-20251001")] == ("claude-haiku-4.5", "rule")
    assert rows[("openrouter", "anthropic/claude-haiku-4.5")] == ("claude-haiku-4.5", "rule")
    assert rows[("openrouter", "openrouter/auto")] == ("unknown", "router")


def test_bad_files_exit_2_with_one_clean_line(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text("backends:\n  a: {}\n  a: {}\n")
    bad_overlay = tmp_path / "overlay.yaml"
    bad_overlay.write_text("version: 1\nmodels:\n  nobody: {price_in: 1}\n")
    cases = [
        (("hash", "catalog", str(dup)), "SRC_DUPLICATE_KEY at $.backends.a"),
        (("hash", "catalog", str(tmp_path / "none.yaml")), "SRC_IO at $"),
        (
            ("catalog", "show", str(CONFIG), "--overlay", str(bad_overlay)),
            "OVL_UNKNOWN_ROUTE at $.models.nobody: overlay `",
        ),
    ]
    for args, expected in cases:
        done = _run(*args)
        assert done.returncode == 2 and done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("genvm-policy: error: ")
        assert expected in lines[0] and "Traceback" not in done.stderr
