"""SPEC §2: canonical CBOR encode/decode against cbor2 and a mutation model.

The test builds its own token tree of each value (an independent encoder that
sorts keys length-first, the RFC 7049 rule, which agrees with bytewise order for
text keys), checks it against `encode` and cbor2, then mutates one item at a
time into a non-canonical variant and asserts the decoder's exact (code, path).
"""

from __future__ import annotations

import copy
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genvm_policy.core.encoding import MAX_DEPTH, Value, decode, encode
from genvm_policy.core.errors import Path, PolicyError
from genvm_policy.core.numeric import MAX


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


edge_ints = st.sampled_from(
    [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, MAX, -1, -24, -25, -256, -257, -MAX]
)
keys = st.text(max_size=6).map(nfc) | st.text(min_size=20, max_size=30).map(nfc)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-MAX, MAX)
    | edge_ints
    | st.text(max_size=8).map(nfc)
    | st.binary(max_size=8)
    | st.binary(min_size=250, max_size=300)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


# -- an independent token model ------------------------------------------------


def head(major: int, arg: int, width: int | None = None) -> bytes:
    """An item head; `width` forces a 1/2/4/8-byte argument (non-canonical if longer)."""
    if width is None:
        if arg < 24:
            return bytes([major << 5 | arg])
        width = next(w for w in (1, 2, 4, 8) if arg < 256**w)
    info = {1: 24, 2: 25, 4: 26, 8: 27}[width]
    return bytes([major << 5 | info]) + arg.to_bytes(width, "big")


@dataclass
class Node:
    path: Path
    kind: str  # int, text, bytes, simple, array, map, key, raw
    major: int
    arg: int
    head: bytes
    payload: bytes = b""
    children: list[Node] = field(default_factory=list)
    tail: bytes = b""
    key: str = ""

    def bytes(self) -> bytes:
        return self.head + self.payload + b"".join(c.bytes() for c in self.children) + self.tail


def build(value: Any, path: Path = ()) -> Node:
    if value is None or isinstance(value, bool):
        byte = 0xF6 if value is None else 0xF5 if value else 0xF4
        return Node(path, "simple", 7, 0, bytes([byte]))
    if isinstance(value, int):
        major, arg = (0, value) if value >= 0 else (1, -1 - value)
        return Node(path, "int", major, arg, head(major, arg))
    if isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        major = 3 if isinstance(value, str) else 2
        kind = "text" if isinstance(value, str) else "bytes"
        return Node(path, kind, major, len(raw), head(major, len(raw)), raw)
    if isinstance(value, list | tuple):
        kids = [build(v, (*path, i)) for i, v in enumerate(value)]
        return Node(path, "array", 4, len(kids), head(4, len(kids)), children=kids)
    kids = []
    for k in sorted(value, key=lambda k: (len(k.encode()), k.encode())):
        raw = k.encode()
        kids.append(Node(path, "key", 3, len(raw), head(3, len(raw)), raw, key=k))
        kids.append(build(value[k], (*path, k)))
    return Node(path, "map", 5, len(value), head(5, len(value)), children=kids)


def preorder(node: Node) -> list[Node]:
    out = [node]
    for child in node.children:
        out.extend(preorder(child))
    return out


def expected_cut(node: Node, pos: int, cut: int) -> tuple[Path | None, int]:
    """Where the decoder must report truncation when the input stops at `cut` (§2.5)."""
    if pos + len(node.head) > cut:
        return node.path, pos
    pos += len(node.head)
    need = {"text": node.arg, "bytes": node.arg, "key": node.arg, "array": node.arg}
    need["map"] = 2 * node.arg
    if need.get(node.kind, 0) > cut - pos:
        return node.path, pos
    pos += len(node.payload)
    for child in node.children:
        found, pos = expected_cut(child, pos, cut)
        if found is not None:
            return found, pos
    return None, pos


def plain(value: Any) -> Any:
    """The value as decode returns it: tuples become lists."""
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def failure(data: bytes) -> tuple[str, Path]:
    with pytest.raises(PolicyError) as info:
        decode(data)
    return info.value.code, info.value.path


# -- round trip ----------------------------------------------------------------


@given(values)
def test_round_trip_and_agreement_with_cbor2(value: Value) -> None:
    data = encode(value)
    assert data == build(value).bytes()
    assert data == cbor2.dumps(value, canonical=True)
    assert cbor2.loads(data) == plain(value)
    assert decode(data) == plain(value)
    assert decode(cbor2.dumps(value, canonical=True)) == plain(value)


def test_tuples_encode_as_arrays() -> None:
    assert (
        encode((1, ("a",))) == encode([1, ["a"]]) == bytes.fromhex("820181 6161".replace(" ", ""))
    )


# -- non-canonical variants ----------------------------------------------------


def raw(node: Node, data: bytes) -> None:
    """Replace `node` by raw bytes in place (keeps its path)."""
    node.kind, node.head, node.payload, node.children, node.tail = "raw", data, b"", [], b""


Mutation = Callable[[Node, st.DataObject], str]
INVALID_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\xe2\x82", b"\x80"]
NON_NFC = ["e\u0301", "\u212b", "A\u030a\u0301", "\u1e0b\u0323"]


def test_the_bad_text_samples_are_bad() -> None:
    assert not any(unicodedata.is_normalized("NFC", text) for text in NON_NFC)
    for raw_text in INVALID_UTF8:
        with pytest.raises(UnicodeDecodeError):
            raw_text.decode("utf-8")


def non_shortest(node: Node, data: st.DataObject) -> str:
    canonical = len(node.head) - 1
    wider = [w for w in (1, 2, 4, 8) if w > canonical and node.arg < 256**w]
    node.head = head(node.major, node.arg, data.draw(st.sampled_from(wider)))
    return "CBOR_NON_CANONICAL"


def indefinite(node: Node, data: st.DataObject) -> str:
    if node.kind in ("text", "bytes", "key"):
        node.payload = node.head + node.payload
    node.head = bytes([node.major << 5 | 31])
    node.tail = b"\xff"
    return "CBOR_NON_CANONICAL"


def tag(node: Node, data: st.DataObject) -> str:
    node.head = head(6, data.draw(st.sampled_from([0, 1, 24, 55799, 2**32]))) + node.head
    return "CBOR_UNSUPPORTED"


def float_item(node: Node, data: st.DataObject) -> str:
    number = data.draw(st.floats(allow_nan=True, allow_infinity=True))
    fmt, lead = data.draw(st.sampled_from([(">e", 0xF9), (">f", 0xFA), (">d", 0xFB)]))
    try:
        packed = struct.pack(fmt, number)
    except OverflowError:
        packed = struct.pack(fmt, 0.0)
    raw(node, bytes([lead]) + packed)
    return "CBOR_UNSUPPORTED"


def simple_item(node: Node, data: st.DataObject) -> str:
    small = data.draw(st.integers(0, 19))
    raw(
        node, data.draw(st.sampled_from([b"\xf7", bytes([0xE0 | small]), b"\xf8\x20", b"\xf8\xff"]))
    )
    return "CBOR_UNSUPPORTED"


def big_int(node: Node, data: st.DataObject) -> str:
    if data.draw(st.booleans()):
        raw(node, head(0, data.draw(st.integers(MAX + 1, 2**64 - 1)), 8))
    else:
        raw(node, head(1, data.draw(st.integers(MAX, 2**64 - 1)), 8))
    return "CBOR_RANGE"


def bad_utf8(node: Node, data: st.DataObject) -> str:
    text = data.draw(st.sampled_from(INVALID_UTF8))
    node.head, node.payload, node.arg = head(3, len(text)), text, len(text)
    return "CBOR_TEXT"


def not_nfc(node: Node, data: st.DataObject) -> str:
    text = data.draw(st.sampled_from(NON_NFC)).encode()
    node.head, node.payload, node.arg = head(3, len(text)), text, len(text)
    return "CBOR_NFC"


def malformed(node: Node, data: st.DataObject) -> str:
    raw(node, data.draw(st.sampled_from([b"\x1c", b"\x5d", b"\x9e", b"\xfc", b"\xff", b"\x1f"])))
    return "CBOR_MALFORMED"


def non_text_key(node: Node, data: st.DataObject) -> str:
    raw(node, data.draw(st.sampled_from([b"\x01", b"\x41a", b"\xc0\x61a", b"\xf6", b"\x80"])))
    return "CBOR_KEY"


HEADED = ("int", "text", "bytes", "key", "array", "map")
VALUE_KINDS = ("int", "text", "bytes", "simple", "array", "map")
MUTATIONS: list[tuple[Mutation, tuple[str, ...]]] = [
    (non_shortest, HEADED),
    (indefinite, ("text", "bytes", "key", "array", "map")),
    (tag, VALUE_KINDS),
    (float_item, VALUE_KINDS),
    (simple_item, VALUE_KINDS),
    (big_int, VALUE_KINDS),
    (bad_utf8, ("text", "key")),
    (not_nfc, ("text", "key")),
    (malformed, VALUE_KINDS),
    (non_text_key, ("key",)),
]


@given(values, st.data())
def test_every_single_item_variant_is_rejected_with_code_and_path(
    value: Value, data: st.DataObject
) -> None:
    tree = build(value)
    mutate, kinds = data.draw(st.sampled_from(MUTATIONS))
    targets = [n for n in preorder(tree) if n.kind in kinds]
    if mutate is non_shortest:
        targets = [n for n in targets if len(n.head) < 9]
    if not targets:
        targets = [tree]
        mutate, kinds = tag, VALUE_KINDS
    node = data.draw(st.sampled_from(targets))
    code = mutate(node, data)
    assert failure(tree.bytes()) == (code, node.path)


@given(values.filter(lambda v: isinstance(v, dict) and len(v) >= 2), st.data())
def test_unsorted_keys_are_rejected(value: dict[str, Value], data: st.DataObject) -> None:
    tree = build(value)
    j = 2 * data.draw(st.integers(0, len(value) - 2))
    kids = tree.children
    kids[j : j + 4] = kids[j + 2 : j + 4] + kids[j : j + 2]
    assert failure(tree.bytes()) == ("CBOR_NON_CANONICAL", (kids[j + 2].key,))


@given(values.filter(lambda v: isinstance(v, dict) and len(v) >= 1), st.data())
def test_duplicate_keys_are_rejected(value: dict[str, Value], data: st.DataObject) -> None:
    tree = build(value)
    j = 2 * data.draw(st.integers(0, len(value) - 1))
    tree.children[j + 2 : j + 2] = copy.deepcopy(tree.children[j : j + 2])
    tree.head = head(5, len(value) + 1)
    assert failure(tree.bytes()) == ("CBOR_DUPLICATE_KEY", (tree.children[j].key,))


@given(values, st.data())
def test_truncation_is_rejected_where_the_input_stops(value: Value, data: st.DataObject) -> None:
    tree = build(value)
    whole = tree.bytes()
    cut = data.draw(st.integers(0, len(whole) - 1))
    path, _ = expected_cut(tree, 0, cut)
    assert path is not None
    assert failure(whole[:cut]) == ("CBOR_TRUNCATED", path)


@given(values, st.binary(min_size=1, max_size=4))
def test_trailing_bytes_are_rejected(value: Value, extra: bytes) -> None:
    assert failure(encode(value) + extra) == ("CBOR_TRAILING", ())


def nested(depth: int, inner: Value = 0) -> Value:
    value = inner
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def nested_path(depth: int) -> Path:
    """The path of the innermost container of `nested(depth)`."""
    return tuple(0 if (depth - 1 - i) % 2 else "k" for i in range(depth - 1))


@pytest.mark.parametrize("depth", [MAX_DEPTH, MAX_DEPTH + 1])
def test_depth_limit(depth: int) -> None:
    value = nested(depth)
    if depth <= MAX_DEPTH:
        assert decode(encode(value)) == value
        return
    with pytest.raises(PolicyError) as info:
        encode(value)
    assert (info.value.code, info.value.path) == ("CBOR_DEPTH", nested_path(depth))
    assert failure(cbor2.dumps(value, canonical=True)) == ("CBOR_DEPTH", nested_path(depth))


# -- the encoder checks the data model ----------------------------------------


@pytest.mark.parametrize(
    ("value", "code", "path"),
    [
        ({"a": [0.5]}, "CBOR_TYPE", ("a", 0)),
        ({"a": -0.0}, "CBOR_TYPE", ("a",)),
        ([{1, 2}], "CBOR_TYPE", (0,)),
        ([bytearray(b"x")], "CBOR_TYPE", (0,)),
        ({"a": {"b": MAX + 1}}, "CBOR_RANGE", ("a", "b")),
        ([-MAX - 1], "CBOR_RANGE", (0,)),
        ({"a": "\ud800"}, "CBOR_TEXT", ("a",)),
        ({"a": ["e\u0301"]}, "CBOR_NFC", ("a", 0)),
        ({"x": {"e\u0301": 1}}, "CBOR_NFC", ("x",)),
        ({"x": {1: 1}}, "CBOR_KEY", ("x",)),
    ],
)
def test_encode_rejects_values_outside_the_model(value: Any, code: str, path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        encode(value)
    assert (info.value.code, info.value.path) == (code, path)


def test_cbor2_lax_output_is_rejected() -> None:
    # cbor2's non-canonical mode keeps insertion order and emits floats and tags.
    assert failure(cbor2.dumps({"bb": 1, "a": 2})) == ("CBOR_NON_CANONICAL", ("a",))
    assert failure(cbor2.dumps([1.5], canonical=True)) == ("CBOR_UNSUPPORTED", (0,))
    assert failure(cbor2.dumps({"t": cbor2.CBORTag(1, 0)}, canonical=True)) == (
        "CBOR_UNSUPPORTED",
        ("t",),
    )
    assert failure(cbor2.dumps(cbor2.undefined)) == ("CBOR_UNSUPPORTED", ())


@pytest.mark.parametrize(
    ("keys", "code"),
    [
        ((1, "e\u0301"), "CBOR_KEY"),
        (("\ud800", "e\u0301"), "CBOR_NFC"),
        (("b", "\ud800"), "CBOR_TEXT"),
    ],
)
def test_bad_keys_are_found_whatever_the_insertion_order(keys: tuple[Any, Any], code: str) -> None:
    for order in (keys, keys[::-1]):
        with pytest.raises(PolicyError) as info:
            encode({"m": {k: 0 for k in order}})
        assert (info.value.code, info.value.path) == (code, ("m",))
