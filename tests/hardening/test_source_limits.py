"""Regression tests for the hardening findings F1-F7 of docs/RELIABILITY.md.

Spec: docs/SPEC.md §0 (errors), §5.1 (source files), §5.2 (names, integer
tokens, the route count), §7.4 (admission: NFC) and docs/HOOK.md §3 (the
compiled policy).

Rules checked, one finding each:
F1. An integer token of thousands of digits in the node config is `CAT_INTEGER`.
F2. A TOML integer over Python's 4,300-digit limit is `SRC_SYNTAX`.
F3, F4. A compiled file with a value of the wrong kind anywhere is `HOOK_VALUE`
    (or another registered code), never another exception.
F5. An oversized node config is refused in well under a second.
F6. Every message is one line: user text is quoted with hidden characters escaped.
F7. Non-NFC text in a policy is `POL_NFC` at its path, with or without a catalog.
And the names rule: invisible and format characters are `CAT_NAME`.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from fuzz_loaders import BASE_CATALOG, BASE_CONFIG, through
from fuzzing import outcome
from hypothesis import example, given, settings
from hypothesis import strategies as st

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import MAX_ROUTES, catalog_value
from genvm_policy.core.encoding import Value, encode
from genvm_policy.core.errors import CODES, PolicyError, quote
from genvm_policy.core.numeric import MAX
from genvm_policy.core.policy import policy_value
from genvm_policy.loaders.sources import parse_document
from genvm_policy.node.compile import (
    PREFIX,
    SPEC_VERSION,
    SUFFIX,
    compile_policy,
    lua_string,
    read_compiled,
)

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


# -- F3, F4: compiled values of the wrong shape -------------------------------------

GOOD_POLICY = admit({"select": {"chain": ["router/m", "gateway/m"]}}, BASE_CATALOG)


def _tree() -> dict[str, Any]:
    """The decoded value of the compiled file for `GOOD_POLICY`."""
    from genvm_policy.core.catalog import catalog_identity, view_identity
    from genvm_policy.core.policy import policy_identity

    # A deep copy: the tests mutate the tree, and `policy_value` hands out the
    # policy's own (cached) term lists.
    return copy.deepcopy(
        {
            "format": 1,
            "spec": SPEC_VERSION,
            "policy": policy_value(GOOD_POLICY),
            "catalog": catalog_value(BASE_CATALOG),
            "identities": {
                "policy": policy_identity(GOOD_POLICY),
                "catalog": catalog_identity(BASE_CATALOG),
                "genvm-view": view_identity(BASE_CATALOG),
            },
        }
    )


def _file(tree: Value) -> bytes:
    return PREFIX % 1 + lua_string(encode(tree)) + SUFFIX


def test_the_rebuilt_tree_is_the_compiled_file() -> None:
    # The mutation tests below start from this tree; it must be the real file.
    assert _file(_tree()) == compile_policy(BASE_CATALOG, GOOD_POLICY)
    assert read_compiled(_file(_tree())).policy == GOOD_POLICY


@pytest.mark.parametrize(
    ("where", "value", "path"),
    [
        (("catalog", "tiers"), 5, ("catalog", "tiers")),
        (("catalog", "routes", 0, "provider"), ["router"], ("catalog", "routes", 0, "provider")),
        (("catalog", "routes", 1, "model"), {"a": 1}, ("catalog", "routes", 1, "model")),
        (("catalog", "routes", 0, "fields"), {"q": "x"}, ("catalog", "routes", 0, "fields", "q")),
        (("catalog", "routes", 0, "json"), 1, ("catalog", "routes", 0, "json")),
        (("catalog", "routes", 0, "priority"), True, ("catalog", "routes", 0, "priority")),
        (("catalog", "default_tier"), [], ("catalog", "default_tier")),
        (("catalog", "routes"), {}, ("catalog", "routes")),
        (("policy", "filter", 0), ["all"], ("policy", "filter")),
    ],
)
def test_f3_f4_wrong_kinds_are_hook_value_at_their_path(
    where: tuple[str | int, ...], value: object, path: tuple[str | int, ...]
) -> None:
    tree = _tree()
    _set(tree, where, value)
    err = _error(read_compiled, _file(tree))
    assert (err.code, err.path) == ("HOOK_VALUE", path)


def test_routes_out_of_bytes_order_are_refused() -> None:
    tree = _tree()
    tree["catalog"]["routes"].reverse()
    err = _error(read_compiled, _file(tree))
    assert (err.code, err.path) == ("HOOK_VALUE", ("catalog", "routes", 1))


def _set(tree: Any, where: tuple[str | int, ...], value: object) -> None:
    for seg in where[:-1]:
        tree = tree[seg]
    tree[where[-1]] = value


def _paths(tree: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix] if prefix else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out += _paths(value, (*prefix, i))
    return out


PATHS = _paths(_tree())
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-MAX, MAX),
    st.text(max_size=8),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, database=None)
@given(st.sampled_from(PATHS), VALUES)
# Found by this test: a route's `fields` as an integer passed the kind check and
# crashed reading it as a map (now `HOOK_VALUE`).
@example(("catalog", "routes", 1, "fields"), 0)
def test_f4_any_value_anywhere_gives_a_documented_answer(
    where: tuple[str | int, ...], value: object
) -> None:
    tree = _tree()
    _set(tree, where, value)
    try:
        data = _file(tree)
    except PolicyError:
        return  # the mutation itself is outside the data model (non-NFC text)
    assert outcome(read_compiled, data, strict=True) in {"ok", *CODES}


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


# -- F7: non-NFC policy text ------------------------------------------------------------


@pytest.mark.parametrize("catalog", [None, BASE_CATALOG], ids=["alone", "with-catalog"])
def test_f7_non_nfc_text_is_refused_at_its_path(catalog: Any) -> None:
    doc = {"filter": {"model_in": ["m", "e\u0301"]}}
    err = _error(admit, doc, catalog)
    assert (err.code, err.path) == ("POL_NFC", ("filter", "model_in", 1))


def test_f7_a_non_nfc_key_is_refused_at_its_entry() -> None:
    err = _error(admit, {"score": {"field": "q"}, "A\u030a": 1})
    assert (err.code, err.path) == ("POL_NFC", ("A\u030a",))


def test_f7_the_first_non_nfc_text_is_found_in_key_bytes_order() -> None:
    first = {"filter": {"model_in": ["e\u0301"]}, "select": {"chain": ["a/e\u0301"]}}
    second = dict(reversed(list(first.items())))
    paths = {_error(admit, doc).path for doc in (first, second)}
    assert paths == {("filter", "model_in", 0)}


def test_f7_nfc_non_ascii_text_is_admitted() -> None:
    policy = admit({"filter": {"model_in": ["é", "中"]}})
    assert policy.filter == ["all", ["needs"], ["model_in", ["é", "中"]]]


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
