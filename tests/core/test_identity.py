"""SPEC §3: identities are SHA-256 over a versioned domain tag and canonical bytes."""

from __future__ import annotations

import hashlib
import random
import unicodedata

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genvm_policy.core.encoding import Value, encode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.identity import KINDS, digest, identity, parse_identity
from genvm_policy.core.numeric import MAX

keys = st.text(max_size=6).map(lambda t: unicodedata.normalize("NFC", t))
leaves = st.none() | st.booleans() | st.integers(-MAX, MAX) | keys | st.binary(max_size=6)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)


@given(st.sampled_from(KINDS), values)
def test_identity_is_the_tagged_hash_of_the_canonical_bytes(kind: str, value: Value) -> None:
    # cbor2's canonical mode is a second encoder for this data model.
    tagged = b"genvm-policy/v1/" + kind.encode() + b"\x00" + cbor2.dumps(value, canonical=True)
    assert digest(kind, value) == hashlib.sha256(tagged).digest()
    text = identity(kind, value)
    assert text == "sha256:" + hashlib.sha256(tagged).hexdigest()
    assert parse_identity(text) == digest(kind, value)


@given(st.dictionaries(keys, values, min_size=2, max_size=6), st.randoms())
def test_identity_ignores_key_order(value: dict[str, Value], rnd: random.Random) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert identity("catalog", dict(items)) == identity("catalog", value)


@given(values, values)
def test_identity_changes_exactly_when_the_bytes_change(a: Value, b: Value) -> None:
    assert (identity("policy", a) == identity("policy", b)) == (encode(a) == encode(b))


@given(values)
def test_kinds_are_separated(value: Value) -> None:
    assert len({identity(kind, value) for kind in KINDS}) == len(KINDS)


def test_kinds_are_the_spec_list() -> None:
    assert KINDS == (
        "catalog",
        "genvm-view",
        "policy",
        "request",
        "decision",
        "seed-commitment",
        "compiled",
    )


def test_unknown_kind() -> None:
    with pytest.raises(PolicyError) as info:
        identity("catalogue", {})
    assert (info.value.code, info.value.path) == ("ID_KIND", ())


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "a" * 64 + "\n",
        "SHA256:" + "a" * 64,
        "sha1:" + "a" * 64,
        "a" * 64,
        "sha256:" + "g" * 64,
        "",
        42,
        None,
    ],
)
def test_parse_identity_rejects_anything_inexact(text: object) -> None:
    with pytest.raises(PolicyError) as info:
        parse_identity(text, ("policy", "identity"))  # type: ignore[arg-type]  # bad on purpose
    assert (info.value.code, info.value.path) == ("ID_SYNTAX", ("policy", "identity"))
