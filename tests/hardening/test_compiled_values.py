"""Compiled policy files with a value of the wrong kind anywhere: a documented code.

The findings F3 and F4 of docs/RELIABILITY.md ("Findings"), kept as the checks that
closed them. Contract: docs/HOOK.md §3 (the compiled policy).

Rule checked: a compiled file with a value of the wrong kind anywhere is `HOOK_VALUE`
(or another registered code), never another exception; routes out of bytes order
are refused; the tree the tests rebuild is the compiled file itself.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.fuzz_loaders import BASE_CATALOG
from support.fuzzing import outcome

from genvm_policy.authoring.admission import admit
from genvm_policy.core.catalog import catalog_value
from genvm_policy.core.encoding import Value, encode
from genvm_policy.core.errors import CODES, PolicyError
from genvm_policy.core.numeric import MAX
from genvm_policy.core.policy import policy_value
from genvm_policy.node.compile import (
    PREFIX,
    SPEC_VERSION,
    SUFFIX,
    compile_policy,
    lua_string,
    read_compiled,
)


def _error(call: Any, *args: Any) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        call(*args)
    return info.value


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
