"""Pre-switch verification replays the vectors against the *installed* hook's runtime.

docs/INSTALL.md §5 step 5, docs/OPERATOR.md "Installing", `genvm_policy.node.installcheck`.
Real node trees (`nodefixtures`), real hooks from the bundler, real lupa Lua 5.3 states
and the stand-alone `lua5.3` (`dispatch/vectors/verify_installed.lua`).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.luasandbox import new_state
from support.nodefixtures import make_node, snapshot

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import Policy
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.bundle import assemble, runtime_sources
from genvm_policy.node.compile import compile_policy
from genvm_policy.node.installcheck import (
    DRIVER,
    GOLDEN,
    VECTORS_LUA,
    own_vectors,
    verify_all,
    verify_vectors,
)
from genvm_policy.node.routability import CLASSES
from genvm_policy.node.runtimes import STANDALONE, run_standalone
from genvm_policy.operator.install import SALT_RELPATH, Bundle, apply, plan_install
from genvm_policy.operator.nodetree import find_tree
from genvm_policy.vectors import read_file
from genvm_policy.vectors.kinds import spec_sections

ROOT = Path(__file__).resolve().parents[2]
CLI = str(ROOT / ".venv" / "bin" / "genvm-policy")
POLICY_RELPATH = "config/genvm-policy/policy.lua"

# A floor division that rounds toward zero for a negative dividend: wrong by SPEC §1.2,
# yet invisible to decisions that divide no negative number.
GOOD_FLOORDIV = "  return a // b\n"
BAD_FLOORDIV = "  if a < 0 and a % b ~= 0 then return a // b + 1 end\n  return a // b\n"


def golden_lua_cases() -> int:
    sections = spec_sections()
    paths = [*GOLDEN.glob("*.cbor"), *GOLDEN.glob("regressions/*.cbor")]
    files = [read_file(p.read_bytes(), sections) for p in paths]
    return sum(len(f.cases) for f in files if "lua" in f.runtimes)


def _node(tmp: Path) -> tuple[Path, Catalog, Policy, bytes]:
    node = make_node(tmp / "node", {"0.5.7": "v2"})
    tree = find_tree(node)
    config = load_document(tree.config, what="c")
    assert isinstance(config, dict)
    catalog = build_catalog(config)
    policy = admit({"select": "argmax"}, catalog)
    return node, catalog, policy, bytes(range(32))


def _bundle(node: Path, catalog: Catalog, policy: Policy, salt: bytes, numeric: str) -> Bundle:
    tree = find_tree(node)
    modules, entry = runtime_sources()
    assert modules["numeric"].count(GOOD_FLOORDIV) == 1
    modules["numeric"] = modules["numeric"].replace(GOOD_FLOORDIV, numeric)
    hook = assemble(modules, entry, str(tree.root / POLICY_RELPATH), str(tree.root / SALT_RELPATH))
    files = {
        tree.hook_relpath: (hook, 0o644),
        POLICY_RELPATH: (compile_policy(catalog, policy), 0o644),
        SALT_RELPATH: (salt, 0o600),
    }
    return Bundle(files, tree.hook_relpath, {"hook_version": "test"})


def test_cli_install_reports_each_replay_with_counts(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"0.5.7": "v1"})
    config = node / "0.5.7/third_party/genvm/config/genvm-module-llm.yaml"
    made = subprocess.run(
        [CLI, "init", "--node-config", str(config), "-o", str(tmp_path / "p")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    golden_before = snapshot(GOLDEN)
    got = subprocess.run(
        [CLI, "install", "--node-root", str(node), "--policy", str(tmp_path / "p" / "policy.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert got.returncode == 0, got.stdout + got.stderr
    out = got.stdout
    golden = golden_lua_cases()
    lupa = re.search(r"golden vectors: (\d+) passed in Lua 5\.3 \(installed files\)", out)
    assert lupa is not None and int(lupa.group(1)) == golden, out
    own = re.search(r"policy vectors: (\d+) passed in Lua 5\.3 \(installed files\)", out)
    assert own is not None and int(own.group(1)) > 7 * 4, out
    standalone = re.findall(r"(golden|policy) vectors: (\d+) passed in stand-alone lua5\.3", out)
    if shutil.which(STANDALONE):
        assert standalone == [("golden", str(golden)), ("policy", own.group(1))], out
    else:
        assert not standalone and "not on PATH, skipped" in out
    # every report line comes before the switch
    assert out.index("policy vectors") < out.index("switch `lua_script_path`")
    # the policy's own vectors are never written to the project
    assert snapshot(GOLDEN) == golden_before


def test_own_vectors_cover_every_request_class_and_seed(tmp_path: Path) -> None:
    _, catalog, policy, _ = _node(tmp_path)
    decision, cascade = own_vectors(catalog, policy)
    # Every request class (format x images, each template) x 4 seeds; the grid adds 64.
    assert decision.kind == "decision" and len(decision.cases) == len(CLASSES) * 4 == 36
    requests = set()
    for c in decision.cases:
        assert isinstance(c.input, dict)
        requests.add(repr(c.input["request"]))
    assert len(requests) == len(CLASSES) == 9
    assert cascade.kind == "cascade" and cascade.cases
    assert all(c.valid for c in decision.cases)
    assert own_vectors(catalog, policy) == (decision, cascade)


def test_a_broken_bundled_module_fails_verification_and_leaves_the_tree(tmp_path: Path) -> None:
    node, catalog, policy, salt = _node(tmp_path)
    before = snapshot(node)
    bundle = _bundle(node, catalog, policy, salt, BAD_FLOORDIV)
    said: list[str] = []

    def verify(root: Path) -> None:
        verify_all(root / find_tree(root).hook_relpath, catalog, policy, salt, said.append)

    with pytest.raises(PolicyError) as err:
        apply(plan_install(find_tree(node), bundle), verify=verify, out=io.StringIO())
    assert err.value.code == "INSTALL_VERIFY"
    assert "golden vectors" in err.value.message and "numeric/" in err.value.message
    # the sample calls alone did not see it: only the installed runtime's vectors did
    assert any("4 sample decisions agree" in line for line in said)
    assert snapshot(node) == before


def test_the_same_bundle_with_a_sound_module_passes(tmp_path: Path) -> None:
    node, catalog, policy, salt = _node(tmp_path)
    bundle = _bundle(node, catalog, policy, salt, GOOD_FLOORDIV)
    said: list[str] = []
    tree = find_tree(node)
    apply(
        plan_install(tree, bundle),
        verify=lambda root: verify_vectors(
            root / tree.hook_relpath,
            catalog,
            policy,
            said.append,
            interpreter="lua5.3-not-installed",
        ),
        out=io.StringIO(),
    )
    assert f"golden vectors: {golden_lua_cases()} passed in Lua 5.3 (installed files)" in " ".join(
        said
    )
    assert any("stand-alone lua5.3-not-installed: not on PATH, skipped" in s for s in said)


@pytest.mark.parametrize(
    ("numeric", "code"), [(GOOD_FLOORDIV, 0), (BAD_FLOORDIV, 1)], ids=["sound", "broken"]
)
def test_standalone_driver_replays_the_installed_modules(
    tmp_path: Path, numeric: str, code: int
) -> None:
    node, catalog, policy, salt = _node(tmp_path)
    bundle = _bundle(node, catalog, policy, salt, numeric)
    hook = tmp_path / "hook.lua"
    hook.write_bytes(bundle.files[find_tree(node).hook_relpath][0])
    run = run_standalone(DRIVER, [str(hook), str(GOLDEN / "numeric.cbor")])
    assert run.returncode == code, run.stdout + run.stderr
    fails = [line for line in run.stdout.splitlines() if line.startswith("FAIL ")]
    assert bool(fails) == (code == 1) and all(f.startswith("FAIL numeric/") for f in fails)
    assert re.fullmatch(r"\d+ passed, \d+ failed", run.stdout.splitlines()[-1])


def test_standalone_driver_reports_a_hook_that_does_not_load(tmp_path: Path) -> None:
    hook = tmp_path / "hook.lua"
    hook.write_text("this is not lua\n", encoding="utf-8")
    run = run_standalone(DRIVER, [str(hook), str(GOLDEN / "numeric.cbor")])
    lines = run.stdout.splitlines()
    assert run.returncode == 1 and lines[-1] == "0 passed, 1 failed"
    assert lines[0].startswith("FAIL installed hook: the installed hook does not load")


def test_require_never_falls_back_to_the_source_tree(tmp_path: Path) -> None:
    # A "hook" that bundles only `numeric`: `encoding` exists in dispatch/ but must not load.
    hook = tmp_path / "hook.lua"
    hook.write_text(
        'package.preload["genvm_policy.numeric"] = function() return { tag = "installed" } end\n'
        "ExecPrompt = function() end\n",
        encoding="utf-8",
    )
    lua = new_state("lua53")
    installed = lua.execute('return (require("vectors.installed"))')
    assert installed.load(str(hook), str(VECTORS_LUA)) == 1
    assert lua.eval('require("genvm_policy.numeric").tag') == "installed"
    ok, why = lua.execute('return pcall(require, "genvm_policy.encoding")')
    assert ok is False and "no module `genvm_policy.encoding` in the installed hook" in why
    assert lua.eval("type(__dflt.log_json)") == "function" and lua.eval("#__llm.providers") == 0
