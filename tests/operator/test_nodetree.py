"""docs/INSTALL.md §1–2: finding the GenVM tree from PATH and telling its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.nodefixtures import make_genvm, make_node

from genvm_policy.core.errors import PolicyError
from genvm_policy.operator.nodetree import find_config, find_tree


def test_node_root_with_one_version_newer_line(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"v0.5.7": "v2"})
    tree = find_tree(node)
    root = node / "v0.5.7" / "third_party" / "genvm"
    assert (tree.root, tree.line, tree.version_dir) == (root, "v2", "v0.5.7")
    assert tree.active_script == root / "config" / "genvm-llm-greybox.lua"
    assert tree.lua_search_path() == [str(root / "lib" / "genvm-lua" / "?.lua")]
    assert tree.hook_relpath == "config/genvm-policy-hook.lua"
    assert tree.script_value(tree.hook_relpath) == "${exeDir}/../config/genvm-policy-hook.lua"
    assert tree.resolve(tree.script_value(tree.hook_relpath)) == root / tree.hook_relpath
    assert "key `lua_path`" in tree.evidence and "`bin/genvm-manager`" in tree.evidence


def test_older_line_resolves_genvm_root(tmp_path: Path) -> None:
    root = make_genvm(tmp_path / "genvm", "v1")
    tree = find_tree(root)
    assert (tree.line, tree.version_dir) == ("v1", None)
    assert tree.active_script == root / "scripts" / "llm-default.lua"
    assert tree.lua_search_path() == [str(root / "share/lib/genvm/lua/?.lua")]
    assert tree.script_value(tree.hook_relpath) == "${genvmRoot}/scripts/genvm-policy-hook.lua"
    assert tree.resolve(tree.script_value(tree.hook_relpath)) == root / tree.hook_relpath


def test_version_folder_is_accepted(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"v0.4.0": "v2"})
    tree = find_tree(node / "v0.4.0")
    assert (tree.root, tree.version_dir) == (node / "v0.4.0" / "third_party" / "genvm", "v0.4.0")


def test_several_versions_and_none_named_is_refused_with_the_list(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"v0.3.9": "v1", "v0.5.7": "v2"})
    with pytest.raises(PolicyError) as info:
        find_tree(node)
    assert info.value.code == "NODE_VERSION_AMBIGUOUS"
    assert "`v0.3.9`" in info.value.message and "`v0.5.7`" in info.value.message
    assert find_tree(node, "v0.3.9").line == "v1"
    with pytest.raises(PolicyError) as unknown:
        find_tree(node, "v9")
    assert unknown.value.code == "NODE_VERSION_UNKNOWN"
    assert "`v0.5.7`" in (unknown.value.hint or "")


def test_bin_symlink_picks_the_active_version(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"v0.3.9": "v1", "v0.5.7": "v2"}, link="v0.5.7")
    tree = find_tree(node)
    assert (tree.version_dir, tree.line) == ("v0.5.7", "v2")
    assert find_tree(node, "v0.3.9").version_dir == "v0.3.9"  # a named version wins


def test_version_dir_on_a_single_tree_is_refused(tmp_path: Path) -> None:
    root = make_genvm(tmp_path / "genvm", "v2")
    with pytest.raises(PolicyError) as info:
        find_tree(root, "v0.5.7")
    assert info.value.code == "NODE_VERSION_UNKNOWN"


@pytest.mark.parametrize("missing", [True, False])
def test_path_that_is_no_genvm_is_refused(tmp_path: Path, missing: bool) -> None:
    path = tmp_path / "nothing"
    if not missing:
        (path / "config").mkdir(parents=True)
    with pytest.raises(PolicyError) as info:
        find_tree(path)
    assert info.value.code == "NODE_NOT_GENVM"
    assert str(path) in info.value.message


def test_evidence_for_both_lines_or_none_is_refused(tmp_path: Path) -> None:
    both = make_genvm(tmp_path / "both", "v1")
    (both / "lib" / "genvm-lua").mkdir(parents=True)
    with pytest.raises(PolicyError) as info:
        find_tree(both)
    assert info.value.code == "NODE_LINE_UNKNOWN"
    assert "`lib/genvm-lua`" in info.value.message and "key `extra_lua_path`" in info.value.message
    bare = tmp_path / "bare"
    (bare / "config").mkdir(parents=True)
    (bare / "config" / "genvm-module-llm.yaml").write_text("lua_script_path: x.lua\n")
    with pytest.raises(PolicyError) as none:
        find_tree(bare)
    assert none.value.code == "NODE_LINE_UNKNOWN"
    assert "no evidence" in none.value.message


def test_unknown_variable_does_not_resolve(tmp_path: Path) -> None:
    root = make_genvm(tmp_path / "genvm", "v2")
    config = root / "config" / "genvm-module-llm.yaml"
    text = config.read_text().replace(
        "${exeDir}/../config/genvm-llm-greybox.lua", "${genvmVersion}/x.lua"
    )
    config.write_text(text)
    tree = find_tree(root)
    assert tree.lua_script_path == "${genvmVersion}/x.lua"
    assert tree.active_script is None
    assert any("unresolved" in line for line in tree.describe())


# -- find_config: what every command that reads the LLM config accepts --------------------


def test_find_config_takes_each_spelling_of_a_node(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"v0.5.7": "v2"})
    root = node / "v0.5.7" / "third_party" / "genvm"
    config = root / "config" / "genvm-module-llm.yaml"
    for given in (node, node / "v0.5.7", root):
        found, where = find_config(given)
        assert found == config and where is not None and f"`{given}`" in where
    assert find_config(node)[1] == f"found from `{node}`, version `v0.5.7`"
    assert find_config(config) == (config, None)


def test_find_config_takes_any_config_file_and_a_missing_file_name(tmp_path: Path) -> None:
    loose = tmp_path / "elsewhere.yaml"
    loose.write_text("backends: {}\n", encoding="utf-8")
    assert find_config(loose) == (loose, None)
    # A missing path named like a source file is left to the reader (SRC_IO).
    assert find_config(tmp_path / "typo.yaml") == (tmp_path / "typo.yaml", None)
    with pytest.raises(PolicyError) as err:
        find_config(tmp_path / "genlayer-nod")
    assert err.value.code == "NODE_NOT_GENVM" and "config file" in (err.value.hint or "")


def test_find_config_ambiguous_root_says_to_name_the_version(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"v0.4.0": "v2", "v0.5.7": "v2"})
    with pytest.raises(PolicyError) as err:
        find_config(node)
    assert err.value.code == "NODE_VERSION_AMBIGUOUS"
    assert err.value.path == (str(node),) and "version folder itself" in (err.value.hint or "")


def test_find_tree_takes_the_config_file(tmp_path: Path) -> None:
    node = make_node(tmp_path / "node", {"v0.5.7": "v2"})
    root = node / "v0.5.7" / "third_party" / "genvm"
    tree = find_tree(root / "config" / "genvm-module-llm.yaml")
    assert (tree.root, tree.version_dir) == (root, "v0.5.7")
    with pytest.raises(PolicyError) as err:
        find_tree(root / "config" / "genvm-llm-default.lua")
    assert err.value.code == "NODE_NOT_GENVM"
