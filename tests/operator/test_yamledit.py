"""docs/INSTALL.md §3: one top-level scalar is replaced as text; every other byte stays."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from support.nodefixtures import LITERAL_KEY, V1_CONFIG, V2_CONFIG

from genvm_policy.core.errors import PolicyError
from genvm_policy.operator import yamledit

NEW = "${exeDir}/../config/genvm-policy-hook.lua"


def changed_lines(old: str, new: str) -> list[tuple[str, str]]:
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


@pytest.mark.parametrize("config", [V1_CONFIG, V2_CONFIG])
def test_replace_touches_one_line_and_keeps_its_comment(config: str) -> None:
    new = yamledit.replace_scalar(config, "lua_script_path", NEW)
    [(old_line, new_line)] = changed_lines(config, new)
    assert old_line.startswith("lua_script_path: ")
    assert new_line.startswith(f"lua_script_path: {NEW}")
    if "#" in old_line:
        assert new_line.endswith(old_line[old_line.index("   #") :])
    assert yaml.safe_load(new)["lua_script_path"] == NEW
    assert LITERAL_KEY in new  # keys and everything else are carried over untouched


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('lua_script_path: "a/b.lua"\n', f'lua_script_path: "{NEW}"\n'),
        ("lua_script_path: 'a/b.lua'  # c\n", f"lua_script_path: '{NEW}'  # c\n"),
        ("lua_script_path:    a/b.lua\r\n", f"lua_script_path:    {NEW}\r\n"),
        ("---\nlua_script_path: x\n", f"---\nlua_script_path: {NEW}\n"),
    ],
)
def test_quoting_style_spacing_and_line_endings_survive(line: str, expected: str) -> None:
    assert yamledit.replace_scalar(line, "lua_script_path", NEW) == expected


def test_plain_value_that_needs_quotes_is_double_quoted() -> None:
    out = yamledit.replace_scalar("k: x\n", "k", "a: b #c")
    assert out == 'k: "a: b #c"\n'
    assert yaml.safe_load(out) == {"k": "a: b #c"}


def test_nested_key_of_the_same_name_is_not_an_entry() -> None:
    text = "backends:\n  x:\n    lua_script_path: nested\nlua_script_path: top\n"
    scalar = yamledit.get_scalar(text, "lua_script_path")
    assert (scalar.value, scalar.line) == ("top", 4)


def test_raw_round_trip_restores_exact_bytes() -> None:
    text = 'a: 1\nlua_script_path: "${exeDir}/\\u0078.lua"   # old\nb: 2\n'
    old = yamledit.get_scalar(text, "lua_script_path")
    assert old.value == "${exeDir}/x.lua"
    switched = yamledit.replace_scalar(text, "lua_script_path", NEW)
    assert yamledit.replace_raw(switched, "lua_script_path", old.raw) == text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a: 1\n", "YAML_KEY_ABSENT"),
        ("k: 1\nk: 2\n", "YAML_KEY_AMBIGUOUS"),
        ("{k: 1}\n", "YAML_NOT_BLOCK_MAPPING"),
        ("- k: 1\n", "YAML_NOT_BLOCK_MAPPING"),
        ("k: 1\n---\nk: 2\n", "YAML_NOT_BLOCK_MAPPING"),
        ("k: |\n  text\n", "YAML_NOT_SCALAR"),
        ("k:\n  nested: 1\n", "YAML_NOT_SCALAR"),
        ("k:\n", "YAML_NOT_SCALAR"),
        ("k: &anchor x\n", "YAML_NOT_SCALAR"),
        ("k: *alias\n", "YAML_NOT_SCALAR"),
        ("k: !!str x\n", "YAML_NOT_SCALAR"),
        ("k: [a, b]\n", "YAML_NOT_SCALAR"),
        ("k: plain\n  continued\n", "YAML_NOT_SCALAR"),
        ('k: "open\n  close"\n', "YAML_NOT_SCALAR"),
        ('k: "a\\q"\n', "YAML_NOT_SCALAR"),  # an escape YAML does not have
        ("k: 'a' trailing\n", "YAML_NOT_SCALAR"),
    ],
)
def test_refusals_have_their_code_and_path(text: str, code: str) -> None:
    with pytest.raises(PolicyError) as info:
        yamledit.replace_scalar(text, "k", "v")
    assert info.value.code == code
    assert info.value.path in {("k",), ()}
    assert "\n" not in info.value.message


values = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@given(values, st.sampled_from(["plain", "'single'", '"double"']))
def test_yaml_reads_back_what_was_written(value: str, old: str) -> None:
    text = f"# head\nfirst: 1\nk: {old}  # note\nlast: [1, 2]\n"
    out = yamledit.replace_scalar(text, "k", value)
    loaded = yaml.safe_load(out)
    assert loaded == {"first": 1, "k": value, "last": [1, 2]}
    assert yamledit.get_scalar(out, "k").value == value
    assert out.startswith("# head\nfirst: 1\nk: ") and out.endswith("  # note\nlast: [1, 2]\n")
