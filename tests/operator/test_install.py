"""docs/INSTALL.md §4–8: install, dry run, re-install, revert, interruption, status, keys."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.nodefixtures import (
    ENV_KEYS,
    LITERAL_KEY,
    lua_verify,
    make_bundle,
    make_node,
    mtimes,
    snapshot,
)

from genvm_policy.core.errors import PolicyError
from genvm_policy.operator import yamledit
from genvm_policy.operator.install import (
    BACKUP_DIR,
    MANIFEST_RELPATH,
    Bundle,
    install,
    plan_install,
    revert,
)
from genvm_policy.operator.install_status import status
from genvm_policy.operator.nodetree import find_tree

REPO = Path(__file__).resolve().parents[2]
LINES = {"v1": "v0.3.9", "v2": "v0.5.7"}


class Crash(Exception):
    """Stands for the process dying between two steps."""


def node_for(tmp_path: Path, line: str) -> Path:
    other = "v1" if line == "v2" else "v2"
    return make_node(tmp_path / "node", {LINES[line]: line, "v0.0.1": other}, link=LINES[line])


def run_install(node: Path, bundle: Bundle, **kw: Any) -> str:
    out = io.StringIO()
    install(node, bundle, verify=lua_verify, out=out, **kw)
    return out.getvalue()


def run_revert(node: Path, **kw: Any) -> str:
    out = io.StringIO()
    revert(node, out=out, **kw)
    return out.getvalue()


@pytest.mark.parametrize("line", ["v1", "v2"])
def test_install_switches_and_revert_restores_exactly(tmp_path: Path, line: str) -> None:
    node = node_for(tmp_path, line)
    before = snapshot(node)
    tree = find_tree(node)
    bundle = make_bundle(tree, "A")
    planned = [step.text for step in plan_install(tree, bundle).steps]
    out = run_install(node, bundle)
    text = tree.config.read_text()
    assert yamledit.get_scalar(text, "lua_script_path").value == tree.script_value(
        tree.hook_relpath
    )
    [changed] = [k for k, v in snapshot(node).items() if k in before and v != before[k]]
    assert changed.endswith("config/genvm-module-llm.yaml")
    for rel, (data, mode) in bundle.files.items():
        assert (tree.root / rel).read_bytes() == data
        assert (tree.root / rel).stat().st_mode & 0o777 == mode
    assert [ln[2:] for ln in out.splitlines() if ln.startswith("  ") and ln[2] != " "] == planned
    assert "verified" in out
    assert ("/module/restart" in out) == (line == "v2")
    assert ("restart the node" in out) == (line == "v1")
    run_revert(node)
    assert snapshot(node) == before


@pytest.mark.parametrize("line", ["v1", "v2"])
def test_dry_run_shows_every_change_and_makes_none(tmp_path: Path, line: str) -> None:
    node = node_for(tmp_path, line)
    tree = find_tree(node)
    before, times = snapshot(node), mtimes(node)
    out = io.StringIO()
    report = install(node, make_bundle(tree, "A"), dry_run=True, out=out)
    assert snapshot(node) == before and mtimes(node) == times
    assert report.changed and report.dry_run
    for text in report.steps:
        assert f"  {text}\n" in out.getvalue()
    assert {"journal", "write", "verify", "switch", "manifest"} <= {
        s.kind for s in plan_install(tree, make_bundle(tree, "A")).steps
    }
    run_install(node, make_bundle(tree, "A"))
    installed, times = snapshot(node), mtimes(node)
    out = io.StringIO()
    report = revert(node, dry_run=True, out=out)
    assert report.changed and snapshot(node) == installed and mtimes(node) == times
    assert "switch `lua_script_path` back" in out.getvalue()


def test_identical_reinstall_changes_nothing(tmp_path: Path) -> None:
    node = node_for(tmp_path, "v2")
    bundle = make_bundle(find_tree(node), "A")
    run_install(node, bundle)
    after, times = snapshot(node), mtimes(node)
    out = io.StringIO()
    report = install(node, bundle, verify=lua_verify, out=out)
    assert not report.changed
    assert "install: nothing to change" in out.getvalue()
    assert snapshot(node) == after and mtimes(node) == times


def test_repeated_installs_of_different_bundles_revert_to_the_first_state(tmp_path: Path) -> None:
    node = node_for(tmp_path, "v2")
    tree = find_tree(node)
    before = snapshot(node)
    run_install(node, make_bundle(tree, "A"))
    run_install(node, make_bundle(tree, "B", extra=True))
    assert (tree.root / "config/genvm-policy/policy.cbor").read_bytes() == b"policy B"
    out = run_install(node, make_bundle(tree, "C"))
    assert "remove `config/genvm-policy/policy.cbor`" in out
    assert not (tree.root / "config/genvm-policy/policy.cbor").exists()
    manifest = json.loads((tree.root / MANIFEST_RELPATH).read_text())
    assert manifest["state"] == "installed"
    assert manifest["metadata"] == dict(make_bundle(tree, "C").metadata)
    assert manifest["config"]["previous_value"] == "${exeDir}/../config/genvm-llm-greybox.lua"
    run_revert(node)
    assert snapshot(node) == before


def test_a_replaced_file_is_backed_up_first_and_restored(tmp_path: Path) -> None:
    node = node_for(tmp_path, "v1")
    tree = find_tree(node)
    foreign = tree.root / tree.hook_relpath
    foreign.write_bytes(b"-- someone else's hook\n")
    foreign.chmod(0o640)
    before = snapshot(node)
    out = run_install(node, make_bundle(tree, "A"))
    assert out.index("back up") < out.index(f"replace `{tree.hook_relpath}`")
    backup = tree.root / BACKUP_DIR / tree.hook_relpath
    assert backup.read_bytes() == b"-- someone else's hook\n"
    assert backup.stat().st_mode & 0o777 == 0o640
    run_install(node, make_bundle(tree, "B"))  # the backup keeps the original, not A
    assert backup.read_bytes() == b"-- someone else's hook\n"
    run_revert(node)
    assert snapshot(node) == before


def test_failed_verification_switches_nothing_and_leaves_no_new_file(tmp_path: Path) -> None:
    node = node_for(tmp_path, "v2")
    tree = find_tree(node)
    before = snapshot(node)
    with pytest.raises(PolicyError) as info:
        run_install(node, make_bundle(tree, "A", broken=True))
    assert info.value.code == "INSTALL_VERIFY"
    assert snapshot(node) == before
    run_install(node, make_bundle(tree, "A"))
    installed = snapshot(node)
    with pytest.raises(PolicyError):
        run_install(node, make_bundle(tree, "B", broken=True, extra=True))
    assert snapshot(node) == installed


def count_checkpoints(action: str, node: Path, bundle: Bundle | None) -> int:
    names: list[str] = []
    if action == "install":
        assert bundle is not None
        install(node, bundle, out=io.StringIO(), checkpoint=names.append)
    else:
        revert(node, out=io.StringIO(), checkpoint=names.append)
    return len(names)


def crash_at(k: int) -> Callable[[str], None]:
    calls = iter(range(10_000))

    def checkpoint(name: str) -> None:
        if next(calls) == k:
            raise Crash(name)

    return checkpoint


@pytest.mark.parametrize("line", ["v1", "v2"])
def test_interrupted_install_is_old_or_new_and_recovers(tmp_path: Path, line: str) -> None:
    probe = node_for(tmp_path / "probe", line)
    total = count_checkpoints("install", probe, make_bundle(find_tree(probe), "A"))
    assert total > 10
    for k in range(total):
        node = node_for(tmp_path / f"k{k}", line)
        tree = find_tree(node)
        bundle = make_bundle(tree, "A")
        before = snapshot(node)
        config_before = tree.config.read_bytes()
        with pytest.raises(Crash):
            install(node, bundle, out=io.StringIO(), checkpoint=crash_at(k))
        config_now = tree.config.read_bytes()
        switched = yamledit.replace_scalar(
            config_before.decode(), "lua_script_path", tree.script_value(tree.hook_relpath)
        ).encode()
        assert config_now in (config_before, switched)
        for rel, (data, _) in bundle.files.items():
            now = tree.root / rel
            assert not now.exists() or now.read_bytes() == data
        if config_now == switched:  # the switch happened only after the files were verified
            assert all((tree.root / rel).exists() for rel in bundle.files)
        assert status(node).state in ("interrupted", "not installed", "installed")
        run_revert(node)
        assert snapshot(node) == before, f"revert after a crash at checkpoint {k}"
        with pytest.raises(Crash):
            install(node, bundle, out=io.StringIO(), checkpoint=crash_at(k))
        run_install(node, bundle)
        recovered = snapshot(node)
        run_revert(node)
        run_install(node, bundle)
        assert snapshot(node) == recovered, f"install after a crash at checkpoint {k}"
        assert status(node).state == "installed" and status(node).intact


def test_interrupted_revert_runs_again(tmp_path: Path) -> None:
    probe = node_for(tmp_path / "probe", "v2")
    run_install(probe, make_bundle(find_tree(probe), "A"))
    total = count_checkpoints("revert", probe, None)
    for k in range(total):
        node = node_for(tmp_path / f"k{k}", "v2")
        before = snapshot(node)
        run_install(node, make_bundle(find_tree(node), "A", extra=True))
        with pytest.raises(Crash):
            revert(node, out=io.StringIO(), checkpoint=crash_at(k))
        run_revert(node)
        assert snapshot(node) == before, f"revert after a crash at checkpoint {k}"


@pytest.mark.parametrize("line", ["v1", "v2"])
def test_keys_are_never_shown_and_copied_only_into_the_backup(tmp_path: Path, line: str) -> None:
    node = node_for(tmp_path, line)
    tree = find_tree(node)
    config_before = tree.config.read_text()
    outputs = [run_install(node, make_bundle(tree, "A"), dry_run=True)]
    outputs.append(run_install(node, make_bundle(tree, "A")))
    outputs.append("\n".join(status(node).lines()))
    config_after = tree.config.read_text()
    key_lines = [ln for ln in config_before.splitlines() if "key:" in ln]
    assert key_lines and all(ln in config_after.splitlines() for ln in key_lines)
    whole = tree.root / BACKUP_DIR / "config/genvm-module-llm.yaml"
    assert whole.read_bytes() == config_before.encode()  # the one copy: private, until revert
    assert whole.stat().st_mode & 0o777 == 0o600
    assert (tree.root / "config/genvm-policy").stat().st_mode & 0o777 == 0o700
    for path in (tree.root / "config" / "genvm-policy").rglob("*"):
        if path.is_file() and path != whole:
            assert LITERAL_KEY.encode() not in path.read_bytes()
            assert not any(k.encode() in path.read_bytes() for k in ENV_KEYS)
    outputs.append(run_revert(node))
    for text in outputs:
        assert LITERAL_KEY not in text and not any(k in text for k in ENV_KEYS)


def test_status_reports_identity_integrity_and_the_active_script(tmp_path: Path) -> None:
    node = node_for(tmp_path, "v2")
    tree = find_tree(node)
    assert status(node).state == "not installed"
    bundle = make_bundle(tree, "A")
    run_install(node, bundle)
    report = status(node)
    assert (report.state, report.intact, report.hook_active, report.config_changed) == (
        "installed",
        True,
        True,
        False,
    )
    assert report.metadata["policy_identity"] == bundle.metadata["policy_identity"]
    text = "\n".join(report.lines())
    assert f"policy_identity: {bundle.metadata['policy_identity']}" in text
    assert "installed files: intact" in text and "genvm-policy-hook.lua" in text
    (tree.root / tree.hook_relpath).write_text("-- edited by hand\n")
    os.chmod(tree.root / "config/genvm-policy/salt", 0o644)
    broken = status(node)
    assert not broken.intact
    problems = {f.relpath: f.problem for f in broken.files}
    assert "hash differs" in str(problems[tree.hook_relpath])
    assert problems["config/genvm-policy/salt"] == "mode 0644, expected 0600"
    run_install(node, bundle)  # a re-install repairs the files
    assert status(node).intact


def test_revert_keeps_operator_edits_to_the_config(tmp_path: Path) -> None:
    node = node_for(tmp_path, "v2")
    tree = find_tree(node)
    original = tree.config.read_text()
    run_install(node, make_bundle(tree, "A"))
    with tree.config.open("a") as f:
        f.write("# added by the operator\n")
    out = run_revert(node)
    assert "changed since the install" in out
    assert tree.config.read_text() == original + "# added by the operator\n"


def test_refusals(tmp_path: Path) -> None:
    node = node_for(tmp_path, "v2")
    tree = find_tree(node)
    good = make_bundle(tree, "A")
    for rel in [
        "../x.lua",
        "/etc/x",
        "bin/x",
        "config/genvm-module-llm.yaml",
        MANIFEST_RELPATH,
        f"{BACKUP_DIR}/x",
        "config//x",
        "config/./x",
    ]:
        bad = Bundle({**good.files, rel: (b"x", 0o644)}, good.hook_relpath, good.metadata)
        with pytest.raises(PolicyError) as info:
            plan_install(tree, bad)
        assert (info.value.code, info.value.path) == ("INSTALL_BUNDLE", ("files", rel))
    with pytest.raises(PolicyError) as floats:
        plan_install(tree, Bundle(good.files, good.hook_relpath, {"x": [0.5]}))
    assert (floats.value.code, floats.value.path) == ("INSTALL_BUNDLE", ("metadata", "x", 0))
    (tree.root / "config/genvm-policy").mkdir()
    (tree.root / "config/genvm-policy/notes.txt").write_text("mine\n")
    with pytest.raises(PolicyError) as foreign:
        plan_install(tree, good)
    assert foreign.value.code == "INSTALL_FOREIGN_STATE"


def test_revert_with_nothing_installed_changes_nothing(tmp_path: Path) -> None:
    node = node_for(tmp_path, "v1")
    before, times = snapshot(node), mtimes(node)
    assert "revert: nothing to change" in run_revert(node)
    assert snapshot(node) == before and mtimes(node) == times


def test_integrate_sh_help_usage_and_mapping(tmp_path: Path) -> None:
    script = REPO / "integrate.sh"
    shown = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0 and "./integrate.sh PATH --revert" in shown.stdout
    bare = subprocess.run([script], capture_output=True, text=True, check=False)
    assert bare.returncode == 2 and "usage:" in bare.stderr
    fake = tmp_path / "fake-genvm-policy"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s|" "$a"; done\n')
    fake.chmod(0o755)
    env = {**os.environ, "GENVM_POLICY": str(fake)}
    cases = {
        (
            "/n",
            "--policy",
            "p.yaml",
            "--reload",
            "--dry-run",
        ): "install|--node-root|/n|--policy|p.yaml|--reload|--dry-run|",
        ("/n", "--revert", "--version-dir", "v1"): "revert|--node-root|/n|--version-dir|v1|",
        ("/n", "--status"): "status|--node-root|/n|",
    }
    for args, expected in cases.items():
        run = subprocess.run([script, *args], capture_output=True, text=True, env=env, check=True)
        assert run.stdout == expected
