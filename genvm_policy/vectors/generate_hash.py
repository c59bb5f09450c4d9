"""The inputs of the hashing vector kinds: identity, sha256, hmac, prng, seed.

Spec: docs/VECTORS.md (one subsection per kind); the rules of `generate.py`
apply: pure, deterministic, every bound at and past its edge, results from
the reference.
"""

from __future__ import annotations

from typing import Any

from genvm_policy.core import prng
from genvm_policy.core.identity import KINDS as ID_KINDS
from genvm_policy.core.numeric import MAX
from genvm_policy.vectors.generate import FLOAT_3, Generated, f64, i64, raw_text

__all__ = ["gen_hmac", "gen_identity", "gen_prng", "gen_seed", "gen_sha256"]


def pattern(n: int, step: int = 7, start: int = 3) -> bytes:
    """`n` bytes of a fixed, non-repeating-looking pattern."""
    return bytes((i * step + start) & 0xFF for i in range(n))


# -- §3 identity ------------------------------------------------------------------

ID_VALUES: list[tuple[str, Any]] = [
    ("zero", 0),
    ("empty_text", ""),
    ("empty_map", {}),
    ("empty_array", []),
    ("empty_bytes", b""),
    ("map", {"version": 1, "routes": [["openai", "gpt-4o"], ["anthropic", "claude-3"]]}),
    ("odd_keys", {"é": 1, "z": 2, "Z": 3, "水": [True, None, -MAX]}),
]


def gen_identity() -> Generated:
    """Identities of several values for every kind, unknown kinds, and identity text parsing."""
    out: Generated = []
    for kind_name in ID_KINDS:
        for name, value in ID_VALUES:
            out.append(
                (
                    f"{kind_name}_{name}",
                    f"the `{kind_name}` identity of {name.replace('_', ' ')}",
                    {"op": "identity", "kind": kind_name, "value": value},
                )
            )
    for name, kind in [
        ("capital", "Catalog"),
        ("empty", ""),
        ("underscore", "genvm_view"),
        ("seed", "seed"),
        ("nul", "policy\x00"),
        ("number", 1),
    ]:
        out.append(
            (
                f"unknown_kind_{name}",
                f"`{kind}` is not a kind of identity",
                {"op": "identity", "kind": kind, "value": 0},
            )
        )
    out.append(
        (
            "unknown_kind_before_value",
            "the kind is checked before the value",
            {"op": "identity", "kind": "x", "value": f64(FLOAT_3)},
        )
    )
    out.append(
        (
            "value_float",
            "encoding errors pass through: a float",
            {"op": "identity", "kind": "policy", "value": {"x": [f64(FLOAT_3)]}},
        )
    )
    out.append(
        (
            "value_range",
            "encoding errors pass through: an integer past MAX",
            {"op": "identity", "kind": "request", "value": {"n": i64(MAX + 1)}},
        )
    )
    good = "sha256:" + pattern(32).hex()
    texts: list[tuple[str, Any]] = [
        ("good", good), ("zeros", "sha256:" + "0" * 64), ("upper", good.upper()),
        ("upper_prefix", "SHA256:" + good[7:]), ("upper_digit", good[:-1] + "F"),
        ("short", good[:-1]), ("long", good + "0"), ("newline", good + "\n"),
        ("space", " " + good), ("no_prefix", good[7:]), ("other_hash", "sha512:" + good[7:]),
        ("non_hex", good[:-1] + "g"), ("non_ascii", good[:-2] + "é"), ("empty", ""),
        ("number", 7), ("bytes", bytes(32)), ("null", None),
    ]  # fmt: skip  # a table laid out by hand in rows
    for name, text in texts:
        out.append(
            (
                f"parse_{name}",
                f"parsing the identity text ({name.replace('_', ' ')})",
                {"op": "parse", "text": text, "path": ["identities", "policy"]},
            )
        )
    return out


# -- §4 prng: hashes ----------------------------------------------------------------

FIPS = [
    ("fips_abc", b"abc"),
    ("fips_448", b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    (
        "fips_896",
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
    ),
    ("a_1000", b"a" * 1000),
]


def gen_sha256() -> Generated:
    """FIPS 180-4 examples and every length 0 … 130 (block edges at 55, 56, 64, 119, 128)."""
    out: Generated = [(name, "a FIPS 180-4 example message", {"data": data}) for name, data in FIPS]
    for n in range(131):
        out.append(
            (
                f"len_{n:03d}",
                f"a {n}-byte message around the 64-byte block edges",
                {"data": pattern(n)},
            )
        )
    return out


RFC4231 = [
    ("rfc4231_1", b"\x0b" * 20, b"Hi There"),
    ("rfc4231_2", b"Jefe", b"what do ya want for nothing?"),
    ("rfc4231_3", b"\xaa" * 20, b"\xdd" * 50),
    ("rfc4231_4", bytes(range(1, 26)), b"\xcd" * 50),
    ("rfc4231_5", b"\x0c" * 20, b"Test With Truncation"),
    ("rfc4231_6", b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"),
    (
        "rfc4231_7",
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger "
        b"than block-size data. The key needs to be hashed before being used by the HMAC "
        b"algorithm.",
    ),
]


def gen_hmac() -> Generated:
    """RFC 4231 (full 32-byte tags) and keys around and past the 64-byte block."""
    out: Generated = [
        (name, "an RFC 4231 test case", {"key": key, "msg": msg}) for name, key, msg in RFC4231
    ]
    for n in (0, 1, 32, 63, 64, 65, 100, 128, 200):
        for m in (0, 53, 64, 200):
            out.append(
                (
                    f"key_{n:03d}_msg_{m:03d}",
                    f"a {n}-byte key over a {m}-byte message",
                    {"key": pattern(n, 13, 1), "msg": pattern(m, 5, 9)},
                )
            )
    return out


# -- §4 prng: streams ----------------------------------------------------------------

LABELS = [
    "a", "select/weighted/0", "select/sample/3", "mutate/jitter/0",
    "mutate/jitter/12", "attempt/seed/0", "attempt/seed/63", "é", "水/选择",
    "x" * 48, "é" * 24,
]  # fmt: skip  # a table laid out by hand in rows

DRAWS: list[Any] = [
    ["read", 0], ["read", 3], ["read", 5], ["u53"], ["below", 1], ["below", 2], ["below", 3],
    ["below", 2**52], ["below", i64(2**53)], ["below", 1000], ["read", 33], ["u53"], ["u32"],
    ["below", 2**32], ["below", 2**32 + 1], ["read", 1], ["below", 7], ["u32"],
]  # fmt: skip  # a table laid out by hand in rows

KEYS = [("key1", b"\x01"), ("key32", pattern(32)), ("key64", pattern(64, 11, 5))]


def _high_bit_label() -> str:
    """The first label `high-bit/<i>` whose stream starts with a byte of 0x80 or more."""
    i = 0
    while prng.stream_block(KEYS[1][1], f"high-bit/{i}", 0)[0] < 0x80:
        i += 1
    return f"high-bit/{i}"


def gen_prng() -> Generated:
    """Stream bytes, u53 and bounded draws for many labels; every rejection of §4.4–§4.6."""
    out: Generated = []
    for kname, key in KEYS:
        for index, label in enumerate(LABELS):
            out.append(
                (
                    f"stream_{kname}_label_{index:02d}",
                    f"draws from the stream `{label}`",
                    {"op": "stream", "key": key, "label": label, "draws": DRAWS},
                )
            )
    key = KEYS[1][1]
    out.append(
        (
            "u53_high_bit",
            "a u53 whose first byte has its top bit set (string.unpack sign)",
            {"op": "stream", "key": key, "label": _high_bit_label(), "draws": [["u53"], ["u53"]]},
        )
    )
    out.append(
        (
            "read_3_then_5",
            "reading 3 then 5 bytes gives the bytes of reading 8",
            {
                "op": "stream",
                "key": key,
                "label": "a",
                "draws": [["read", 3], ["read", 5], ["read", 8]],
            },
        )
    )
    out.append(
        (
            "read_across_blocks",
            "reads that cross several 32-byte blocks",
            {
                "op": "stream",
                "key": key,
                "label": "a",
                "draws": [["read", 31], ["read", 2], ["read", 70]],
            },
        )
    )
    out.append(
        (
            "below_many_2",
            "64 draws below 2",
            {"op": "stream", "key": key, "label": "coin", "draws": [["below", 2]] * 64},
        )
    )
    out.append(
        (
            "below_many_3",
            "64 draws below 3",
            {"op": "stream", "key": key, "label": "die", "draws": [["below", 3]] * 64},
        )
    )
    out.append(
        (
            "below_u32_rejections",
            "64 draws below 2^31 + 1: about half of the 4-byte draws are rejected",
            {"op": "stream", "key": key, "label": "half", "draws": [["below", 2**31 + 1]] * 64},
        )
    )
    out.append(
        (
            "below_u53_rejections",
            "64 draws below 2^52 + 1: about half of the 8-byte draws are rejected",
            {"op": "stream", "key": key, "label": "half", "draws": [["below", 2**52 + 1]] * 64},
        )
    )
    bad_bounds: list[tuple[str, Any]] = [
        ("0", 0), ("m1", -1), ("2p53_plus_1", i64(2**53 + 1)), ("int64_max", i64(2**63 - 1)),
        ("true", True), ("float_3", f64(FLOAT_3)), ("text", "3"), ("null", None),
    ]  # fmt: skip  # a table laid out by hand in rows
    for name, bound in bad_bounds:
        out.append(
            (
                f"below_reject_{name}",
                f"a draw below `{name}` is outside 1 … 2^53",
                {"op": "stream", "key": key, "label": "a", "draws": [["u53"], ["below", bound]]},
            )
        )
    bad_labels: list[tuple[str, Any]] = [
        ("empty", ""), ("len_49", "x" * 49), ("multibyte_49", "é" * 24 + "x"), ("nul", "a\x00b"),
        ("invalid_utf8", raw_text(b"a\xff")), ("surrogate", raw_text(b"\xed\xb0\x80")),
        ("number", 5),
    ]  # fmt: skip  # a table laid out by hand in rows
    for name, label in bad_labels:
        out.append(
            (
                f"label_reject_{name}",
                f"the label ({name.replace('_', ' ')}) is refused",
                {"op": "stream", "key": key, "label": label, "draws": []},
            )
        )
    for name, bad_key in (("empty", b""), ("len_65", bytes(65)), ("number", 7)):
        out.append(
            (
                f"key_reject_{name}",
                f"the key ({name.replace('_', ' ')}) is refused",
                {"op": "stream", "key": bad_key, "label": "", "draws": []},
            )
        )
    for index in (0, 1, 255, 256, 2**32 - 1):
        out.append(
            (
                f"block_{index}",
                f"block {index} of a stream",
                {"op": "block", "key": key, "label": "select/sample/0", "index": index},
            )
        )
    bad_indexes: list[tuple[str, Any]] = [
        ("2p32", 2**32), ("m1", -1), ("true", True), ("float", f64(FLOAT_3)),
    ]  # fmt: skip  # a table laid out by hand in rows
    for name, bad_index in bad_indexes:
        out.append(
            (
                f"block_reject_{name}",
                "a block index outside 0 … 2^32 − 1",
                {"op": "block", "key": key, "label": "a", "index": bad_index},
            )
        )
    out.append(
        (
            "block_reject_label_first",
            "the label is checked before the index",
            {"op": "block", "key": key, "label": "", "index": -1},
        )
    )
    return out


# -- §4 prng: seed --------------------------------------------------------------------

MATERIALS: list[tuple[str, Any]] = [
    ("empty", {}),
    (
        "typical",
        {"transaction": "0x" + pattern(32).hex(), "node": "0x" + pattern(20, 3).hex(), "call": 0},
    ),
    ("call_max", {"transaction": "0x00", "node": "0x00", "call": MAX}),
    ("odd_keys", {"é": 1, "z": 2, "Z": 3, "ß": b"\x00"}),
]


def gen_seed() -> Generated:
    """Call keys from salts and material with their commitments; every rejection of §4.2–§4.3."""
    out: Generated = []
    for sname, salt in (("zero", bytes(32)), ("pattern", pattern(32, 29, 17))):
        for mname, material in MATERIALS:
            out.append(
                (
                    f"call_key_{sname}_{mname}",
                    f"the call key of {mname} material",
                    {"op": "call_key", "salt": salt, "material": material},
                )
            )
    bad: list[tuple[str, Any, Any]] = [
        ("salt_31", bytes(31), {}), ("salt_33", bytes(33), {}), ("salt_empty", b"", {}),
        ("salt_number", 32, {}), ("salt_before_material", bytes(31), []),
        ("material_array", bytes(32), []), ("material_text", bytes(32), "m"),
        ("material_null", bytes(32), None),
        ("material_float", bytes(32), {"call": f64(FLOAT_3)}),
        ("material_range", bytes(32), {"x": [i64(MAX + 1)]}),
        ("material_int_key", bytes(32), {"$entry": [1, 0]}),
        ("material_bad_text", bytes(32), {"node": raw_text(b"\xc3")}),
    ]  # fmt: skip  # a table laid out by hand in rows
    for name, salt, material in bad:
        out.append(
            (
                f"call_key_reject_{name}",
                f"a call key refused ({name.replace('_', ' ')})",
                {"op": "call_key", "salt": salt, "material": material},
            )
        )
    for n in (1, 32, 64):
        out.append(
            (
                f"commitment_len_{n}",
                f"the commitment to a {n}-byte seed",
                {"op": "commitment", "key": pattern(n, 17, 2)},
            )
        )
    for name, key in (("empty", b""), ("len_65", bytes(65)), ("null", None)):
        out.append(
            (
                f"commitment_reject_{name}",
                f"a seed refused ({name.replace('_', ' ')})",
                {"op": "commitment", "key": key},
            )
        )
    return out
