"""The inputs of every foundation vector kind; the reference computes their results.

Spec: docs/VECTORS.md (one subsection per kind). Each generator returns the
cases of its kind as `(name, description, input)` in a fixed order; the
expected result of each is what `run.run` gives under the reference, so the
files are rewritten byte for byte by `genvm-policy vectors generate`.

Rules:
1. Generators are pure and deterministic: no clock, no randomness, no host order.
2. Every bound is exercised at and past its edge; the Lua traps of the issue
   (integer wrap, `string.unpack` sign, `//` with negative operands, host
   floats, string coercion) each have named cases.
3. Values outside the data model are written as host escapes (`run.host`).
"""

from __future__ import annotations

from typing import Any

from genvm_policy.core import encoding
from genvm_policy.core.numeric import MAX

__all__ = ["Generated", "f64", "gen_cbor", "gen_decimal", "gen_numeric", "i64", "raw_text"]

Generated = list[tuple[str, str, Any]]


def i64(n: int) -> dict[str, bytes]:
    """The host escape of an integer that may lie outside ±MAX (rule 3)."""
    return {"$int": n.to_bytes(8, "big", signed=True)}


def f64(hex_bits: str) -> dict[str, bytes]:
    """The host escape of the binary64 float with these 16 hex digits (rule 3)."""
    return {"$float": bytes.fromhex(hex_bits)}


def raw_text(data: bytes) -> dict[str, bytes]:
    """The host escape of text given by its raw (possibly invalid) UTF-8 bytes."""
    return {"$text": data}


def tag(n: int) -> str:
    """A name fragment for an integer: `max`, `m7`, `4294967296`."""
    if abs(n) == MAX:
        return "max" if n > 0 else "mmax"
    return str(n) if n >= 0 else f"m{-n}"


FLOAT_503 = "407f700000000000"  # 503.0, as GenVM hands over an HTTP status
FLOAT_2_5 = "4004000000000000"  # 2.5
FLOAT_3 = "4008000000000000"  # 3.0

# -- §1 numeric ---------------------------------------------------------------

OPERANDS = [0, 1, -1, 2, -7, 7, 2**32, -(2**32), 94906266, MAX, -MAX, MAX - 1]
# 94906266^2 > MAX > 94906265^2; 2^32 * 2^32 wraps to 0 in 64-bit Lua integers.

BAD_OPERANDS: list[tuple[str, str, Any]] = [
    ("above_max", "2^53, one past MAX", i64(MAX + 1)),
    ("below_min", "−2^53, one past −MAX", i64(-MAX - 1)),
    ("int64_max", "2^63 − 1, where Lua integers wrap", i64(2**63 - 1)),
    ("int64_min", "−2^63, where Lua integers wrap", i64(-(2**63))),
    ("float_503", "the host float 503.0 (an HTTP status as GenVM hands it over)", f64(FLOAT_503)),
    ("float_2_5", "the host float 2.5", f64(FLOAT_2_5)),
    ("text_10", "the text `10`, which Lua 5.3 arithmetic would coerce to a float", "10"),
    ("true", "a boolean, never an integer", True),
    ("null", "null", None),
]


def gen_numeric() -> Generated:
    """Checked add, sub, mul, floordiv over a grid of edges; neg, check; every rejection."""
    out: Generated = []
    for op in ("add", "sub", "mul", "floordiv"):
        for a in OPERANDS:
            for b in OPERANDS:
                out.append(
                    (
                        f"{op}_{tag(a)}_{tag(b)}",
                        f"{op}({a}, {b}) at the bounds",
                        {"op": op, "args": [a, b]},
                    )
                )
    for op in ("neg", "check"):
        for a in OPERANDS:
            out.append((f"{op}_{tag(a)}", f"{op}({a})", {"op": op, "args": [a]}))
    for name, what, bad in BAD_OPERANDS:
        for op, args in (("check", [bad]), ("neg", [bad]), ("add", [bad, 1]), ("mul", [1, bad])):
            out.append((f"{op}_{name}", f"{op} with {what}", {"op": op, "args": args}))
        out.append(
            (
                f"floordiv_{name}_by_zero",
                f"{what} divided by zero: the operand check comes first",
                {"op": "floordiv", "args": [bad, 0]},
            )
        )
    for a, b in [(-7, 2), (7, -2), (-7, -2), (-1, 2), (1, -2), (-MAX, 2), (MAX, -2), (-MAX, -1)]:
        out.append(
            (
                f"floordiv_floor_{tag(a)}_{tag(b)}",
                f"{a} // {b} rounds toward negative infinity",
                {"op": "floordiv", "args": [a, b], "path": ["scale", 2]},
            )
        )
    at = ["routes", "openai", "gpt-4o", "price_in"]
    out.append(
        (
            "add_overflow_at_path",
            "an overflow carries the caller's path",
            {"op": "add", "args": [MAX, 1], "path": at},
        )
    )
    out.append(
        (
            "mul_wrap_at_path",
            "2^32 · 2^32 wraps to 0 in Lua: checked before it happens",
            {"op": "mul", "args": [2**32, 2**32], "path": at},
        )
    )
    out.append(
        (
            "floordiv_zero_at_path",
            "a zero divisor carries the caller's path",
            {"op": "floordiv", "args": [-7, 0], "path": at},
        )
    )
    return out


def gen_decimal() -> Generated:
    """Decimal text to units at every scale (SPEC §1.4), with `format_units` of the result."""
    texts = [
        "0",
        "-0",
        "7",
        "-7",
        "0.15",
        "0.150",
        "1.5e-1",
        "1.5E-1",
        "15e-2",
        "0.0375",
        "2e3",
        "1e9",
        "-0.5",
        "0.001",
        "0.0001",
        "0.000001",
        "0.0000001",
        "1e-9",
        "1e-10",
        "123456789.123456789",
        "9007199254.740991",
        "9007199254.740992",
        "9007199254740991",
        "9007199254740992",
        "-9007199254740991",
        "1e15",
        "1e16",
        "1e64",
        "1e65",
        "1e-64",
        "1e-65",
        "0e64",
        "0e65",
        "1e+2",
        "9" * 64,
        "9" * 65,
        "NaN",
        "inf",
        "-inf",
        "0x10",
        "0o7",
        "010",
        "00",
        "1_000",
        "+1",
        ".5",
        "5.",
        " 1",
        "1 ",
        "١",
        "１",
        "1e",
        "e5",
        "",
        "-",
        "--1",
        "1.2.3",
        "1,5",
        "0.1e1",
        "1.0e-3",
    ]
    out: Generated = []
    for index, text in enumerate(texts):
        for scale in (0, 3, 6, 9):
            out.append(
                (
                    f"parse_{index:02d}_scale_{scale}",
                    f"`{text}` at scale {scale}",
                    {"op": "parse_decimal", "value": text, "scale": scale},
                )
            )
    for name, scale in (("m1", -1), ("10", 10), ("true", True)):
        out.append(
            (
                f"parse_scale_{name}",
                f"scale `{scale}` is outside 0 … 9",
                {"op": "parse_decimal", "value": "1", "scale": scale},
            )
        )
    out.append(
        (
            "parse_bad_scale_first",
            "a bad scale is reported before bad text",
            {"op": "parse_decimal", "value": "x", "scale": 10},
        )
    )
    for hi in (150000, 149999):
        out.append(
            (
                f"parse_hi_{hi}",
                f"`0.15` against the upper bound {hi}",
                {
                    "op": "parse_decimal",
                    "value": "0.15",
                    "scale": 6,
                    "hi": hi,
                    "path": ["fields", "price_in"],
                },
            )
        )
    for lo in (0, -1):
        out.append(
            (
                f"parse_lo_{tag(lo)}",
                f"`-0.000001` against the lower bound {lo}",
                {"op": "parse_decimal", "value": "-0.000001", "scale": 6, "lo": lo},
            )
        )
    values: list[tuple[str, str, Any, int]] = [
        ("int_2_scale_6", "the integer 2 is 2 whole units", 2, 6),
        ("int_max_scale_0", "MAX at scale 0", MAX, 0),
        ("int_max_scale_1", "MAX at scale 1 leaves the range", MAX, 1),
        ("int_1e9_scale_9", "10^9 at scale 9 is 10^18 units, out of range", 10**9, 9),
        ("text_scale_3", "text goes through the decimal grammar", "1.25", 3),
        ("float_0_15", "a binary float is never exact", f64("3fc3333333333333"), 6),
        ("float_503", "the host float 503.0 is refused too", f64(FLOAT_503), 0),
        ("bool", "a boolean is not a number", True, 0),
        ("null", "null is not a number", None, 0),
        ("list", "a list is not a number", [1], 0),
        ("int_bad_scale", "an integer at scale 10", 1, 10),
    ]
    for name, what, value, scale in values:
        out.append((f"to_int_{name}", what, {"op": "to_int", "value": value, "scale": scale}))
    return out


# -- §2 encoding ----------------------------------------------------------------


def _int_values() -> list[int]:
    edges = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, MAX]
    return edges + [-1 - n for n in edges[:-1]] + [-MAX]


ODD_KEYS = ["é", "z", "Z", "a", "ä", "€", "𝄞", "ab", "B", "ß", "Å", "ﬃ", "水"]
# Byte order puts `Z` before `a` and all ASCII before `é`; most collations do not.

VALUES: list[tuple[str, Any]] = (
    [(f"int_{tag(n)}", n) for n in _int_values()]
    + [("true", True), ("false", False), ("null", None)]
    + [("text_empty", ""), ("text_a", "a"), ("text_ietf", "IETF"), ("text_u_umlaut", "ü"),
       ("text_water", "水"), ("text_astral", "𐅑"), ("text_nul", "a\x00b")]
    + [(f"text_len_{n}", "x" * n) for n in (23, 24, 255, 256)]
    + [(f"bytes_len_{n}", bytes((i * 7 + 3) & 0xFF for i in range(n)))
       for n in (0, 1, 23, 24, 255, 256)]
    + [("array_empty", []), ("array_nested", [1, [2, 3], [4, 5]]), ("array_25", list(range(25)))]
    + [("map_empty", {}), ("map_rfc", {"a": 1, "b": [2, 3]}),
       ("map_length_first", {"b": 1, "aa": 2, "": 3}),
       ("map_odd_keys", {k: i for i, k in enumerate(ODD_KEYS)}),
       ("map_nested", {"routes": [{"provider": "openai", "model": "gpt-4o"}], "n": -5})]
    + [("nest_arrays_64", {"$nest": [64, "array", 0]}), ("nest_maps_64", {"$nest": [64, "map", 0]})]
)  # fmt: skip  # a table laid out by hand in rows

ENCODE_ERRORS: list[tuple[str, str, Any]] = [
    ("range_above", "2^53 is outside the model", i64(MAX + 1)),
    ("range_below", "−2^53 is outside the model", i64(-MAX - 1)),
    ("range_in_map", "the path of an out-of-range integer", [0, {"x": i64(2**63 - 1)}]),
    ("float", "a float has no canonical form here", f64(FLOAT_2_5)),
    ("float_503", "503.0 is a float even though it is integral", [f64(FLOAT_503)]),
    ("text_ff", "text with the byte 0xff", raw_text(b"\xff")),
    ("text_overlong", "an overlong NUL", raw_text(b"\xc0\x80")),
    ("text_surrogate", "an encoded surrogate", {"a": raw_text(b"\xed\xa0\x80")}),
    ("text_above_10ffff", "a code point above U+10FFFF", raw_text(b"\xf4\x90\x80\x80")),
    ("text_cut", "a cut multi-byte sequence", [raw_text(b"\xe6\xb0")]),
    ("key_int", "an integer map key", {"$entry": [1, 0]}),
    ("key_bool", "a boolean map key", [{"$entry": [True, 0]}]),
    ("key_float", "a float map key (Lua turns 1.0 into 1: still not text)",
     {"$entry": [f64("3ff0000000000000"), 0]}),
    ("key_invalid_text", "a map key that is not UTF-8", {"m": {"$entry": [raw_text(b"\xff"), 0]}}),
    ("depth_arrays_65", "65 nested arrays", {"$nest": [65, "array", 0]}),
    ("depth_maps_65", "65 nested maps", {"$nest": [65, "map", 0]}),
]  # fmt: skip  # a table laid out by hand in rows

MAP_KEY_A = bytes.fromhex("6161")
DECODE_ERRORS: list[tuple[str, str, str]] = (
    [("empty", "no initial byte", "")]
    + [(f"reserved_{b}", "additional information 28 … 30", b)
       for b in ("1c", "3d", "5e", "7c", "9d", "be", "dc", "fc")]
    + [(f"stray_break_{b}", "31 on a major type without lengths", b)
       for b in ("1f", "3f", "df", "ff")]
    + [(f"indefinite_{b}", "an indefinite length", b + "00") for b in ("5f", "7f", "9f", "bf")]
    + [(f"tag_{b}", "a tag", b) for b in ("c0", "c100", "d820", "db0000000000000000")]
    + [(f"simple_{b}", "a float or a simple value outside false, true, null", b)
       for b in ("f93c00", "fa3f800000", "fb3ff0000000000000", "f7", "f0", "f820")]
    + [(f"arg_cut_{b}", "the argument bytes are cut", b)
       for b in ("18", "1900", "1a000000", "1b00000000000000")]
    + [(f"arg_long_{b}", "an argument that fits a shorter form", b)
       for b in ("1817", "1900ff", "1a0000ffff", "1b00000000ffffffff", "3800", "5801ff",
                 "780161", "9800", "b800", "1b0000000000000000")]
    + [(f"int_range_{b}", "an integer outside ±MAX (a high bit makes string.unpack negative)", b)
       for b in ("1b0020000000000000", "3b001fffffffffffff", "1bffffffffffffffff",
                 "1b8000000000000000", "3bffffffffffffffff", "3b8000000000000000")]
    + [(f"string_cut_{b}", "a string longer than the bytes left", b)
       for b in ("45616263", "65616263", "5bffffffffffffffff", "5b0000000100000000",
                 "7a0001000061")]
    + [(f"text_{b}", "text that is not UTF-8", b)
       for b in ("61ff", "62c080", "63eda080", "64f4908080", "62e6b0", "61c3")]
    + [("depth_arrays_65", "65 nested arrays", "81" * 65 + "00"),
       ("depth_maps_65", "65 nested maps", "a1616b" * 65 + "00"),
       ("count_cut_array", "more items than bytes left", "8200"),
       ("count_cut_map", "more entries than bytes left", "a2616100"),
       ("map_value_missing", "a key without its value", "a16161"),
       ("count_huge", "a count past any input", "9bffffffffffffffff"),
       ("key_int", "an integer key", "a10000"),
       ("key_array", "an array key, not read further", "81a18100"),
       ("key_bytes_nested", "a byte-string key inside an array", "81a1416100"),
       ("key_bad_utf8", "a key that is not UTF-8", "a161ff00"),
       ("key_long_head", "a key length not in its shortest form", "a178016100"),
       ("key_cut", "a key longer than the bytes left", "a1781861"),
       ("key_duplicate", "the same key twice", "a2616100616101"),
       ("key_order", "keys out of bytes order", "a2616200616100"),
       ("key_length_order", "a longer key before a shorter one", "a262616100616200"),
       ("key_non_ascii_order", "`é` (c3 a9) before `z` (7a): bytes order puts `z` first",
        "a262c3a900617a00"),
       ("key_nested_order", "the path of a misordered key in a nested map",
        "a161788281a2617a0061790000"),
       ("trailing_byte", "a byte after the item", "0000"),
       ("trailing_after_map", "a byte after a complete map", "a0f6")]
)  # fmt: skip  # a table laid out by hand in rows


def gen_cbor() -> Generated:
    """Encodings of a wide range of values, their decodings, and every rejection class."""
    out: Generated = []
    for name, value in VALUES:
        out.append(
            (
                f"encode_{name}",
                f"the canonical bytes of {name.replace('_', ' ')}",
                {"op": "encode", "value": value},
            )
        )
    for name, value in VALUES:
        if not name.startswith("nest_"):
            out.append(
                (
                    f"decode_{name}",
                    f"the canonical bytes of {name.replace('_', ' ')} decode back",
                    {"op": "decode", "bytes": encoding.encode(value)},
                )
            )
    out.append(
        (
            "roundtrip_nest_arrays_64",
            "64 nested arrays are allowed",
            {"op": "roundtrip", "bytes": bytes.fromhex("81" * 63 + "8100")},
        )
    )
    out.append(
        (
            "roundtrip_nest_maps_64",
            "64 nested maps are allowed",
            {"op": "roundtrip", "bytes": bytes.fromhex("a1616b" * 64 + "00")},
        )
    )
    for name, what, value in ENCODE_ERRORS:
        out.append((f"encode_reject_{name}", what, {"op": "encode", "value": value}))
    for name, what, hex_bytes in DECODE_ERRORS:
        out.append(
            (f"decode_reject_{name}", what, {"op": "decode", "bytes": bytes.fromhex(hex_bytes)})
        )
    return out
