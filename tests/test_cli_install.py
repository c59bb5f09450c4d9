"""`genvm-policy install|revert|status` and `integrate.sh` on realistic node trees, as subprocesses.

Trees come from `nodefixtures` (both GenVM lines, literal and templated keys); the
policy and salt come from `genvm-policy init` on the tree's own config.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from nodefixtures import LITERAL_KEY, make_node, snapshot

from genvm_policy.admission import admit
from genvm_policy.bundle import build_hook
from genvm_policy.catalog import build_catalog
from genvm_policy.commands.install import verify_installed
from genvm_policy.compile import compile_policy
from genvm_policy.errors import PolicyError
from genvm_policy.sources import load_document

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / ".venv" / "bin" / "genvm-policy")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GENVM_POLICY": CLI}
    return subprocess.run(
        [str(ROOT / "integrate.sh"), *args], capture_output=True, text=True, check=False, env=env
    )


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("line", ["v2", "v1"])
def test_install_status_reinstall_revert(tmp_path: Path, line: str) -> None:
    node = make_node(tmp_path / "node", {"0.5.7": line})
    genvm = node / "0.5.7" / "third_party" / "genvm"
    config = genvm / "config" / "genvm-module-llm.yaml"
    made = cli("init", "--node-config", str(config), "-o", str(tmp_path / "pol"))
    assert made.returncode == 0, made.stderr
    before = snapshot(node)
    policy = str(tmp_path / "pol" / "policy.yaml")

    dry = run(str(node), "--policy", policy, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and snapshot(node) == before

    got = run(str(node), "--policy", policy)
    assert got.returncode == 0, got.stderr
    out = got.stdout
    for step in (
        "find the GenVM tree",
        "load the node's catalog",
        "admit and compile",
        "take the node salt",
        "build the hook bundle",
        "sample decisions agree",
    ):
        assert step in out, step  # fmt: skip
    assert ("restart the node" in out) == (line == "v1")
    assert LITERAL_KEY not in out + got.stderr
    salt = (tmp_path / "pol" / "salt").read_bytes()
    assert salt.hex() not in out and (genvm / "config/genvm-policy/salt").read_bytes() == salt
    assert (genvm / "config/genvm-policy/salt").stat().st_mode & 0o777 == 0o600

    installed = snapshot(node)
    again = run(str(node), "--policy", policy)
    assert "nothing to change" in again.stdout and snapshot(node) == installed

    status = run(str(node), "--status")
    assert status.returncode == 0, status.stderr
    assert "hook active: yes" in status.stdout
    assert "drift: catalog unchanged" in status.stdout
    assert "drift: genvm-view unchanged" in status.stdout

    # The node's catalog changes after the install: status reports drift.
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("supports_json: true", "supports_json: false", 1), "utf-8")
    drifted = run(str(node), "--status")
    assert "drift: genvm-view CHANGED since the install" in drifted.stdout
    config.write_text(text, encoding="utf-8")

    back = run(str(node), "--revert")
    assert back.returncode == 0, back.stderr
    assert snapshot(node) == before


def test_missing_salt_is_refused(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"0.5.7": "v2"})
    policy = tmp_path / "policy.yaml"
    policy.write_text("select: argmax\n", encoding="utf-8")
    before = snapshot(node)
    got = run(str(node), "--policy", str(policy))
    assert got.returncode == 2
    assert "INSTALL_SALT" in got.stderr and "genvm-policy init" in got.stderr
    assert "Traceback" not in got.stderr and snapshot(node) == before


def test_a_bad_salt_is_refused_before_any_change(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"0.5.7": "v2"})
    genvm = node / "0.5.7" / "third_party" / "genvm"
    config = genvm / "config" / "genvm-module-llm.yaml"
    assert cli("init", "--node-config", str(config), "-o", str(tmp_path / "pol")).returncode == 0
    before = snapshot(node)
    bad = tmp_path / "bad-salt"
    bad.write_bytes(b"short")
    bad.chmod(0o600)
    got = run(str(node), "--policy", str(tmp_path / "pol" / "policy.yaml"), "--salt", str(bad))
    assert got.returncode == 2 and "HOOK_SALT" in got.stderr
    assert snapshot(node) == before


def test_verification_fails_when_the_hook_disagrees(tmp_path: Path) -> None:
    catalog = build_catalog(load_document(ROOT / "examples/node/genvm-module-llm.yaml", what="c"))
    policy = admit({"select": "argmax"}, catalog)
    (tmp_path / "policy.lua").write_bytes(compile_policy(catalog, policy))
    (tmp_path / "salt").write_bytes(bytes(32 * [7]))
    hook = tmp_path / "hook.lua"
    hook.write_bytes(build_hook(str(tmp_path / "policy.lua"), str(tmp_path / "salt")))
    assert verify_installed(hook, catalog, policy, bytes(32 * [7])) == 4
    with pytest.raises(PolicyError) as err:
        verify_installed(hook, catalog, policy, bytes(32 * [8]))
    assert err.value.code == "INSTALL_VERIFY" and "`seed`" in err.value.message
    (tmp_path / "salt").unlink()
    with pytest.raises(PolicyError) as err:
        verify_installed(hook, catalog, policy, bytes(32 * [7]))
    assert err.value.code == "INSTALL_VERIFY" and "fell back" in err.value.message
