"""SPEC §4: SHA-256 and HMAC vectors, call keys, commitments, streams and draws."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genvm_policy.core.encoding import Value
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.identity import identity
from genvm_policy.core.prng import (
    Stream,
    call_key,
    hmac_sha256,
    seed_commitment,
    sha256,
    stream_block,
)

# FIPS 180-4 examples (the NIST example computations for SHA-256).
SHA256_VECTORS = [
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ),
    (
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    ),
    (b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
]

# RFC 4231 test cases 1-7 (key, data, expected HMAC-SHA256; case 5 is truncated to 128 bits).
HMAC_VECTORS = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data."
     b" The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]  # fmt: skip  # a table laid out by hand in rows

keys = st.binary(min_size=1, max_size=64)
labels = st.text(min_size=1, max_size=12).filter(lambda t: "\x00" not in t)


def error_of(fn: Callable[..., object], *args: object) -> tuple[str, tuple[str | int, ...]]:
    with pytest.raises(PolicyError) as info:
        fn(*args)
    return info.value.code, info.value.path


@pytest.mark.parametrize(("message", "expected"), SHA256_VECTORS)
def test_sha256_fips_vectors(message: bytes, expected: str) -> None:
    assert sha256(message).hex() == expected


@pytest.mark.parametrize(("key", "data", "expected"), HMAC_VECTORS)
def test_hmac_sha256_rfc4231_vectors(key: bytes, data: bytes, expected: str) -> None:
    assert hmac_sha256(key, data).hex()[: len(expected)] == expected


# -- call key and commitment ---------------------------------------------------


@given(st.binary(min_size=32, max_size=32), st.text(max_size=8), st.integers(0, 2**40))
def test_call_key_layout(salt: bytes, tx: str, index: int) -> None:
    material: dict[str, Value] = {"tx": tx.encode(), "node": "0xabc", "call": index}
    msg = b"genvm-policy/v1/call-key\x00" + cbor2.dumps(material, canonical=True)
    assert call_key(salt, material) == hmac.new(salt, msg, hashlib.sha256).digest()


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_call_key_wants_a_32_byte_salt(size: int) -> None:
    assert error_of(call_key, b"s" * size, {}) == ("PRNG_KEY", ())


def test_call_key_material_is_a_canonical_map() -> None:
    assert error_of(call_key, b"s" * 32, [1]) == ("PRNG_MATERIAL", ())
    assert error_of(call_key, b"s" * 32, {"call": 0.5}) == ("CBOR_TYPE", ("call",))


@given(keys)
def test_seed_commitment_is_the_identity_of_the_key(key: bytes) -> None:
    tagged = b"genvm-policy/v1/seed-commitment\x00" + cbor2.dumps(key)
    assert seed_commitment(key) == "sha256:" + hashlib.sha256(tagged).hexdigest()
    assert seed_commitment(key) == identity("seed-commitment", key)


@pytest.mark.parametrize("size", [0, 65])
def test_seed_length_is_checked(size: int) -> None:
    assert error_of(seed_commitment, b"k" * size) == ("PRNG_KEY", ())
    assert error_of(Stream, b"k" * size, "x") == ("PRNG_KEY", ())


# -- streams -------------------------------------------------------------------


@given(keys, labels, st.integers(0, 2**32 - 1))
def test_block_layout(key: bytes, label: str, index: int) -> None:
    msg = label.encode() + b"\x00" + index.to_bytes(4, "big")
    assert stream_block(key, label, index) == hmac.new(key, msg, hashlib.sha256).digest()


@given(keys, labels, st.lists(st.integers(0, 70), max_size=6))
def test_reads_walk_the_blocks_in_order(key: bytes, label: str, sizes: list[int]) -> None:
    stream = Stream(key, label)
    got = b"".join(stream.read(n) for n in sizes)
    blocks = b"".join(stream_block(key, label, i) for i in range(sum(sizes) // 32 + 1))
    assert got == blocks[: sum(sizes)]


@given(keys, labels, st.integers(0, 5))
def test_u53_is_the_top_53_bits_of_the_next_8_bytes(key: bytes, label: str, skip: int) -> None:
    stream, copy = Stream(key, label), Stream(key, label)
    stream.read(skip)
    copy.read(skip)
    assert stream.u53() == int.from_bytes(copy.read(8), "big") >> 11


def model_below(stream: Stream, n: int) -> int:
    """SPEC §4.6 restated: 4-byte draws up to 2^32, else the top 53 bits of 8 bytes;
    reject draws at or above the largest multiple of n in the draw's range."""
    size, width, shift = (2**32, 4, 0) if n <= 2**32 else (2**53, 8, 11)
    while True:
        draw = int.from_bytes(stream.read(width), "big") >> shift
        if draw < (size // n) * n:
            return draw % n


bounds = (
    st.integers(1, 2**53)
    | st.integers(1, 1000)
    | st.sampled_from([1, 2, 3, 2**31 + 1, 2**32, 2**32 + 1, 2**52 + 1, 2**53 - 1, 2**53])
)


@given(keys, labels, st.lists(bounds, min_size=1, max_size=8))
def test_below_is_in_range_deterministic_and_as_specified(
    key: bytes, label: str, ns: list[int]
) -> None:
    first, second, model = Stream(key, label), Stream(key, label), Stream(key, label)
    draws = [first.below(n) for n in ns]
    assert all(0 <= d < n for d, n in zip(draws, ns, strict=True))
    assert draws == [second.below(n) for n in ns]
    assert draws == [model_below(model, n) for n in ns]
    # The streams consumed the same bytes, so the next read agrees too.
    assert first.read(8) == model.read(8)


def test_below_rejects_half_the_draws_for_a_bound_just_above_half() -> None:
    # For n = 2^52 + 1 about half of all draws are rejected: the loop must run.
    stream, model = Stream(b"k", "rejection"), Stream(b"k", "rejection")
    draws = [stream.below(2**52 + 1) for _ in range(64)]
    raw = [int.from_bytes(model.read(8), "big") >> 11 for _ in range(400)]
    accepted = [r % (2**52 + 1) for r in raw if r < 2**52 + 1]
    assert draws == accepted[:64]
    assert len(raw) > len(accepted)


def test_small_bounds_take_four_bytes_and_reject_too() -> None:
    # n = 2^31 + 1 rejects about half of the 4-byte draws; n = 2^32 takes every one.
    stream, model = Stream(b"k", "rejection"), Stream(b"k", "rejection")
    draws = [stream.below(2**31 + 1) for _ in range(64)]
    raw = [int.from_bytes(model.read(4), "big") for _ in range(400)]
    accepted = [r % (2**31 + 1) for r in raw if r < 2**31 + 1]
    assert draws == accepted[:64]
    assert len(raw) > len(accepted)
    whole, copy = Stream(b"k", "word"), Stream(b"k", "word")
    assert [whole.below(2**32) for _ in range(9)] == [copy.u32() for _ in range(9)]


def test_u32_reads_the_next_four_bytes() -> None:
    stream, copy = Stream(b"k", "w"), Stream(b"k", "w")
    stream.read(30)
    copy.read(30)
    assert stream.u32() == int.from_bytes(copy.read(4), "big")


@pytest.mark.parametrize("n", [0, -1, 2**53 + 1, True])
def test_below_bound_is_checked(n: int) -> None:
    assert error_of(Stream(b"k", "x").below, n) == ("PRNG_BOUND", ())


@given(keys, labels, labels)
def test_labels_separate_streams(key: bytes, a: str, b: str) -> None:
    assert (Stream(key, a).read(32) == Stream(key, b).read(32)) == (a == b)


@pytest.mark.parametrize("label", ["", "x" * 49, "é" * 25, "a\x00b", "\ud800"])
def test_labels_are_checked(label: str) -> None:
    assert error_of(Stream, b"k", label) == ("PRNG_LABEL", ())


def test_longest_label_is_accepted() -> None:
    assert len(Stream(b"k", "é" * 24).read(1)) == 1


@pytest.mark.parametrize("index", [-1, 2**32, True])
def test_block_index_is_checked(index: int) -> None:
    assert error_of(stream_block, b"k", "x", index) == ("PRNG_INDEX", ())
