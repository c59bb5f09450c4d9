"""Source files and node configs at their limits: the documented code, fast, on one line.

The findings F1, F2, F5 and F6 of docs/RELIABILITY.md ("Findings"), each kept as
the check that closed it, and the names rule of §4 there.
Spec: docs/SPEC.md §0 (errors), §5.1 (source files), §5.2 (names, integer tokens,
the route count).

Rules checked:
F1. An integer token of thousands of digits in the node config is `CAT_INTEGER`.
F2. A TOML integer over Python's 4,300-digit limit is `SRC_SYNTAX`.
F5. An oversized node config is refused in well under a second.
F6. Every message is one line: user text is quoted with hidden characters escaped.
And the names rule: invisible and format characters are `CAT_NAME`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from support.fuzz_loaders import BASE_CATALOG, BASE_CONFIG, through

from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import MAX_ROUTES
from genvm_policy.core.errors import PolicyError, quote
from genvm_policy.core.numeric import MAX
from genvm_policy.loaders.sources import parse_document

BIG = "1" * 5000


def _error(call: Any, *args: Any) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        call(*args)
    return info.value


def _one_backend(models: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"backends": {"p": {"provider": "x", "key": "k", "models": models, **extra}}}


# -- F1: integer tokens past Python's int-text limit ----------------------------------


def test_f1_a_5000_digit_priority_is_an_integer_error() -> None:
    text = b"backends: {p: {provider: x, key: k, meta: {priority: -%s}, models: {m: {}}}}"
    err = _error(through("yaml", build_catalog), text % BIG.encode())
    assert (err.code, err.path) == ("CAT_INTEGER", ("backends", "p", "meta", "priority"))
    assert len(err.message) < 200


def test_f1_a_5000_digit_greybox_position_is_an_integer_error() -> None:
    text = b"backends: {p: {provider: x, key: k, models: {m: {meta: {greybox: {text: %s}}}}}}"
    err = _error(through("yaml", build_catalog), text % BIG.encode())
    assert (err.code, err.path) == (
        "CAT_INTEGER",
        ("backends", "p", "models", "m", "meta", "greybox", "text"),
    )


@pytest.mark.parametrize("value", [str(MAX), str(-MAX)])
def test_f1_the_widest_integers_in_range_still_pass(value: str) -> None:
    text = b"backends: {p: {provider: x, key: k, meta: {priority: %s}, models: {m: {}}}}"
    catalog = through("yaml", build_catalog)(text % value.encode())
    assert isinstance(catalog, type(BASE_CATALOG)) and catalog.routes[0].priority == int(value)


# -- F2: TOML integers past the limit ----------------------------------------------


def test_f2_a_5000_digit_toml_integer_is_a_syntax_error() -> None:
    err = _error(parse_document, f"v = {BIG}".encode(), "toml")
    assert (err.code, err.path) == ("SRC_SYNTAX", ())
    assert "4300 digits" in err.message


def test_f2_a_huge_hex_toml_integer_is_a_syntax_error_at_its_path() -> None:
    err = _error(parse_document, b"[t]\nv = [0x" + b"f" * 5000 + b"]", "toml")
    assert (err.code, err.path) == ("SRC_SYNTAX", ("t", "v", 0))


# -- F5: an oversized node config is refused before its models are read -------------


def test_f5_a_million_model_entries_are_refused_in_well_under_a_second() -> None:
    config = _one_backend({f"m{i:07d}": {} for i in range(1_000_000)})
    start = time.perf_counter_ns()
    err = _error(build_catalog, config)
    spent_ms = (time.perf_counter_ns() - start) // 1_000_000
    assert (err.code, err.path) == ("CAT_TOO_MANY", ("backends",))
    assert spent_ms < 500, spent_ms


def test_f5_disabled_models_count_toward_the_entry_limit() -> None:
    models: dict[str, Any] = {f"m{i}": {} for i in range(MAX_ROUTES)}
    assert len(build_catalog(_one_backend(models)).routes) == MAX_ROUTES
    models["z"] = {"enabled": False}
    assert _error(build_catalog, _one_backend(models)).code == "CAT_TOO_MANY"


# -- F6: messages are one line -------------------------------------------------------


def test_f6_a_model_id_with_a_line_break_gives_a_one_line_message() -> None:
    err = _error(build_catalog, _one_backend({"a\nb": {}}))
    assert (err.code, err.path) == ("CAT_NAME", ("backends", "p", "models", "a\nb"))
    assert "\n" not in err.message and "`a\\nb`" in err.message
    assert len(str(err).splitlines()) == 1


def test_f6_quote_escapes_every_hidden_character_and_keeps_the_rest() -> None:
    assert quote("a\nb\tc\r") == "`a\\nb\\tc\\r`"
    assert quote("\u200b\u202e\ufeff\u2028\x85\U000e0001") == (
        "`\\u200b\\u202e\\ufeff\\u2028\\u0085\\U000e0001`"
    )
    assert quote("é 中 ｇpt") == "`é 中 ｇpt`"
    assert quote("x" * 70, 64) == "`" + "x" * 64 + "…`"
    assert quote(12) == "`12`"


def test_f6_every_message_and_hint_is_one_line_even_unquoted() -> None:
    err = PolicyError("POL_VALUE", ("a\nb",), "text `x\ny` here", "try\u2029again")
    assert err.message == "text `x\\ny` here" and err.hint == "try\\u2029again"
    assert len(err.render().splitlines()) == 1


def test_f6_a_toml_key_with_a_line_break_is_quoted_on_one_line() -> None:
    err = _error(parse_document, b'"a\\nb" = 1\n"a\\nb" = 2\n', "toml")
    assert len(str(err).splitlines()) == 1


# -- names: invisible and format characters (SPEC §5.2 rule 3) ----------------------


@pytest.mark.parametrize(
    "bad", ["\u200b", "\u202e", "\ufeff", "\u2028", "\u00a0", "\u2066", "\U000e0041"]
)
@pytest.mark.parametrize("where", ["provider", "model"])
def test_invisible_and_format_characters_are_name_errors(bad: str, where: str) -> None:
    name = f"gpt{bad}4o"
    path: tuple[str, ...]
    if where == "model":
        config, path = _one_backend({name: {}}), ("backends", "p", "models", name)
    else:
        config = {"backends": {name: {"provider": "x", "key": "k", "models": {"m": {}}}}}
        path = ("backends", name)
    err = _error(build_catalog, config)
    assert (err.code, err.path) == ("CAT_NAME", path)
    assert f"U+{ord(bad):04X}" in err.message and bad not in err.message


@pytest.mark.parametrize("good", ["é", "中", "ｇpt", "a b", "模型-4o/é"])
def test_ordinary_non_ascii_names_are_routes(good: str) -> None:
    catalog = build_catalog(_one_backend({good: {}}))
    assert [(r.provider, r.model) for r in catalog.routes] == [("p", good)]


def test_the_base_config_is_unchanged() -> None:
    # The fixture the fuzz driver shares must stay a valid two-backend config.
    assert len(build_catalog(BASE_CONFIG).routes) == 3
