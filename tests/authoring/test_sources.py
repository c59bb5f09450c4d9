"""Loaders (SPEC §5.1): number tokens keep their text; bad files fail cleanly and quickly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from genvm_policy.core.errors import PolicyError
from genvm_policy.core.numeric import NumberText
from genvm_policy.loaders.sources import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_VALUES,
    load_document,
    parse_document,
)


def _error(data: bytes, fmt: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_document(data, fmt)
    return info.value


def test_three_formats_give_the_same_tree() -> None:
    yaml_doc = parse_document(b"a:\n  price: 0.150\n  on: yes\n  tags: [x, 'y']\n", "yaml")
    json_doc = parse_document(b'{"a": {"price": 0.150, "on": "yes", "tags": ["x", "y"]}}', "json")
    toml_doc = parse_document(b'[a]\nprice = 0.150\non = "yes"\ntags = ["x", "y"]\n', "toml")
    assert yaml_doc == json_doc == toml_doc
    for doc in (yaml_doc, json_doc, toml_doc):
        assert isinstance(doc, dict)
        section = doc["a"]
        assert isinstance(section, dict)
        price = section["price"]
        assert isinstance(price, NumberText) and price == "0.150"


def test_yaml_core_schema() -> None:
    doc = parse_document(b"a: ~\nb: TRUE\nc: '12'\nd: 12\ne: !!str 12\nf: 2001-12-14\ng:\n", "yaml")
    assert doc == {"a": None, "b": True, "c": "12", "d": "12", "e": "12", "f": "2001-12-14"} | {
        "g": None
    }
    assert isinstance(doc, dict)
    assert isinstance(doc["d"], NumberText) and not isinstance(doc["c"], NumberText)
    assert not isinstance(doc["e"], NumberText)


def test_templates_stay_text() -> None:
    doc = parse_document(b"key: ${ENV[OPENAIKEY]}\n", "yaml")
    assert doc == {"key": "${ENV[OPENAIKEY]}"}


@pytest.mark.parametrize(
    ("data", "fmt", "code", "path"),
    [
        (b"a:\n  b: 1\n  b: 2\n", "yaml", "SRC_DUPLICATE_KEY", ("a", "b")),
        (b'{"a": {"b": 1, "b": 2}}', "json", "SRC_DUPLICATE_KEY", ("a", "b")),
        (b"a: &x 1\nb: *x\n", "yaml", "SRC_ALIAS", ("a",)),
        (b"a: [1, *x]\n", "yaml", "SRC_ALIAS", ("a", 1)),
        (b"a:\n  1: x\n", "yaml", "SRC_KEY", ("a",)),
        (b"a: {[1]: x}\n", "yaml", "SRC_KEY", ("a",)),
        (b"a: !!python/object:os.system x\n", "yaml", "SRC_TAG", ("a",)),
        (b"a: !!int 1.5\n", "yaml", "SRC_TAG", ("a",)),
        (b"a: [.nan]\n", "yaml", "SRC_NUMBER", ("a", 0)),
        (b'{"a": [1, -Infinity]}', "json", "SRC_NUMBER", ("a", 1)),
        (b"a = inf\n", "toml", "SRC_NUMBER", ("a",)),
        (b"a = 1979-05-27\n", "toml", "SRC_VALUE", ("a",)),
        (b'{"a": "\\ud800"}', "json", "SRC_ENCODING", ("a",)),
        (b"a: 1\n---\nb: 2\n", "yaml", "SRC_SYNTAX", ()),
        (b"a: \xff\n", "yaml", "SRC_ENCODING", ()),
        (b"a = [1,\n", "toml", "SRC_SYNTAX", ()),
    ],
)
def test_rejections(data: bytes, fmt: str, code: str, path: tuple[str | int, ...]) -> None:
    err = _error(data, fmt)
    assert (err.code, err.path) == (code, path)
    assert err.message == err.message.strip() and "\n" not in err.message


def test_syntax_error_names_line_and_column() -> None:
    err = _error(b"a: 1\nb: [2,\n", "yaml")
    assert err.code == "SRC_SYNTAX" and "line 3, column 1" in err.message
    err = _error(b'{"a": 1,\n "b": }', "json")
    assert err.code == "SRC_SYNTAX" and "line 2, column 7" in err.message


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_depth_limit(fmt: str) -> None:
    ok = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_document(ok, fmt) is not None
    err = _error(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), fmt)
    assert err.code == "SRC_DEPTH"
    err = _error(b"[" * 200_000 + b"]" * 200_000, fmt)
    assert err.code == "SRC_DEPTH"


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    started = time.monotonic()
    err = _error("\n".join(lines).encode(), "yaml")
    assert (err.code, err.path) == ("SRC_ALIAS", ("a0",))
    assert time.monotonic() - started < 1


def test_ten_megabyte_file_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: [" + b"1, " * (10 * 1024 * 1024 // 3) + b"1]\n")
    assert big.stat().st_size > MAX_BYTES
    started = time.monotonic()
    with pytest.raises(PolicyError) as info:
        load_document(big, what="node config")
    assert info.value.code == "SRC_TOO_LARGE" and "big.yaml" in info.value.message
    assert time.monotonic() - started < 1


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_document(tmp_path / "absent.yaml", what="overlay")
    assert info.value.code == "SRC_IO" and "absent.yaml" in info.value.message
    assert info.value.hint
    with pytest.raises(PolicyError) as info:
        load_document(tmp_path, what="overlay")
    assert info.value.code == "SRC_FORMAT"
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    with pytest.raises(PolicyError) as info:
        load_document(folder, what="overlay")
    assert info.value.code == "SRC_IO"
    text = tmp_path / "x.txt"
    text.write_text("a: 1\n")
    with pytest.raises(PolicyError) as info:
        load_document(text, what="overlay")
    assert info.value.code == "SRC_FORMAT"


def test_toml_integers_keep_their_value_as_text(tmp_path: Path) -> None:
    path = tmp_path / "o.toml"
    path.write_text("a = 1_000\nb = 0.25\n")
    doc = load_document(path, what="overlay")
    assert doc == {"a": "1000", "b": "0.25"}
    assert isinstance(doc, dict) and isinstance(doc["a"], NumberText)


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_value_budget_is_enforced_in_every_format(fmt: str) -> None:
    n = MAX_VALUES // 2 + 1  # each entry is a key and a value
    if fmt == "yaml":
        data = "".join(f"k{i}: 1\n" for i in range(n))
    elif fmt == "json":
        data = "{" + ",".join(f'"k{i}": 1' for i in range(n)) + "}"
    else:
        data = "".join(f"k{i} = 1\n" for i in range(n))
    with pytest.raises(PolicyError) as err:
        parse_document(data.encode(), fmt, what="node config")
    assert (err.value.code, err.value.path) == ("SRC_TOO_LARGE", ())


def test_value_budget_admits_a_document_at_the_limit() -> None:
    n = (MAX_VALUES - 1) // 2  # the top-level map is one value too
    data = "{" + ",".join(f'"k{i}": 1' for i in range(n)) + "}"
    doc = parse_document(data.encode(), "json", what="node config")
    assert isinstance(doc, dict) and len(doc) == n
