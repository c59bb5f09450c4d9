"""Canonical encoding: RFC 8949 §4.2.1 deterministic CBOR over a restricted model.

Spec: docs/SPEC.md §2 (Canonical encoding).

Rules:
1. The data model is integers in ±(2^53 − 1), text (valid UTF-8, NFC), byte
   strings, arrays, maps with unique text keys, `true`, `false`, `null`.
2. `encode` validates the model, then writes every argument in its shortest
   form, definite lengths only, map entries sorted by their encoded key bytes.
3. `decode` accepts exactly the bytes `encode` produces. Each rejection has its
   own code and the path of the offending item; the checks on one item run in
   the order SPEC §2.5 pins, so the Lua runtime reports the same (code, path).
4. Containers nest at most `MAX_DEPTH` deep: the top-level item is at depth 1.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import TypeAlias

from genvm_policy.core.errors import Path, PolicyError
from genvm_policy.core.numeric import MAX

__all__ = ["MAX_DEPTH", "Value", "decode", "encode"]

Value: TypeAlias = (
    bool | int | str | bytes | list["Value"] | tuple["Value", ...] | Mapping[str, "Value"] | None
)
"""A value of the restricted data model (decoding gives lists and dicts)."""

MAX_DEPTH = 64
"""The deepest a container may sit; the top-level item is at depth 1."""

# Major types (RFC 8949 §3.1).
UINT, NINT, BYTES, TEXT, ARRAY, MAP, TAG, SIMPLE = range(8)
FALSE, TRUE, NULL = 0xF4, 0xF5, 0xF6
INDEFINITE = 31

# Additional information 24 … 27 carry a 1, 2, 4 or 8 byte argument; an
# argument below the floor for its width has a shorter form (non-canonical).
_WIDTHS = {24: 1, 25: 2, 26: 4, 27: 8}
_FLOORS = {24: 24, 25: 2**8, 26: 2**16, 27: 2**32}


# -- encode -----------------------------------------------------------------


def _head(major: int, argument: int) -> bytes:
    """The initial byte and shortest argument of an item (RFC 8949 §4.2.1)."""
    if argument < 24:
        return bytes([major << 5 | argument])
    info = 24 if argument < 2**8 else 25 if argument < 2**16 else 26 if argument < 2**32 else 27
    return bytes([major << 5 | info]) + argument.to_bytes(_WIDTHS[info], "big")


def _text_bytes(text: str, path: Path) -> bytes:
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise PolicyError(
            "CBOR_TEXT", path, "text holds a lone surrogate, which is not valid UTF-8"
        ) from None
    if not unicodedata.is_normalized("NFC", text):
        raise PolicyError(
            "CBOR_NFC",
            path,
            f"text `{text}` is not in Unicode NFC",
            hint="normalise the text to NFC (composed form) before using it",
        )
    return raw


def _encode(value: Value, path: Path, depth: int, out: list[bytes]) -> None:
    if value is None:
        out.append(bytes([NULL]))
    elif isinstance(value, bool):
        out.append(bytes([TRUE if value else FALSE]))
    elif isinstance(value, int):
        if not -MAX <= value <= MAX:
            raise PolicyError("CBOR_RANGE", path, f"`{value}` is outside ±(2^53 − 1)")
        out.append(_head(UINT, value) if value >= 0 else _head(NINT, -1 - value))
    elif isinstance(value, str):
        raw = _text_bytes(value, path)
        out.append(_head(TEXT, len(raw)) + raw)
    elif isinstance(value, bytes):
        out.append(_head(BYTES, len(value)) + value)
    elif isinstance(value, list | tuple):
        _check_depth(depth, path)
        out.append(_head(ARRAY, len(value)))
        for index, item in enumerate(value):
            _encode(item, (*path, index), depth + 1, out)
    elif isinstance(value, Mapping):
        _check_depth(depth, path)
        if not all(isinstance(key, str) for key in value):
            raise PolicyError("CBOR_KEY", path, "a map key is not text")
        entries: list[tuple[bytes, str]] = []
        # Checked in code point order, so the first bad key never depends on
        # the mapping's insertion order.
        for key in sorted(value):
            raw = _text_bytes(key, path)
            entries.append((_head(TEXT, len(raw)) + raw, key))
        # A mapping cannot hold one key twice, so sorted encoded keys are distinct.
        entries.sort()
        out.append(_head(MAP, len(entries)))
        for encoded_key, key in entries:
            out.append(encoded_key)
            _encode(value[key], (*path, key), depth + 1, out)
    else:
        raise PolicyError(
            "CBOR_TYPE",
            path,
            "a value outside the data model (floats and other kinds have no canonical form)",
            hint="use integers (decimals as integer units), text, bytes, lists, maps, "
            "true, false or null",
        )


def _check_depth(depth: int, path: Path) -> None:
    if depth > MAX_DEPTH:
        raise PolicyError("CBOR_DEPTH", path, f"containers nest deeper than {MAX_DEPTH}")


def encode(value: Value) -> bytes:
    """The canonical bytes of `value` (§2.2), after checking the data model (§2.1).

    Raises `CBOR_TYPE`, `CBOR_RANGE`, `CBOR_TEXT`, `CBOR_NFC`, `CBOR_KEY` or
    `CBOR_DEPTH` with the path of the offending item.
    """
    out: list[bytes] = []
    _encode(value, (), 1, out)
    return b"".join(out)


# -- decode -----------------------------------------------------------------


class _Reader:
    """A cursor over the input; every read checks the bytes are there."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, path: Path) -> bytes:
        if n > self.left():
            raise PolicyError("CBOR_TRUNCATED", path, "the input ends inside an item")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def _argument(reader: _Reader, path: Path) -> tuple[int, int]:
    """Read an item's head (§2.5 steps 1–3): returns (major type, argument)."""
    initial = reader.take(1, path)[0]
    major, info = initial >> 5, initial & 31
    if 28 <= info <= 30 or (info == INDEFINITE and major in (UINT, NINT, TAG, SIMPLE)):
        raise PolicyError("CBOR_MALFORMED", path, f"byte `0x{initial:02x}` is not well-formed")
    if info == INDEFINITE:
        raise PolicyError("CBOR_NON_CANONICAL", path, "an indefinite length is not canonical")
    if major == TAG:
        raise PolicyError("CBOR_UNSUPPORTED", path, "tags are outside the data model")
    if major == SIMPLE:
        if initial in (FALSE, TRUE, NULL):
            return major, initial
        what = "floats are" if info >= 25 else "simple values other than false, true, null are"
        raise PolicyError("CBOR_UNSUPPORTED", path, f"{what} outside the data model")
    if info < 24:
        return major, info
    argument = int.from_bytes(reader.take(_WIDTHS[info], path), "big")
    if argument < _FLOORS[info]:
        raise PolicyError(
            "CBOR_NON_CANONICAL", path, f"`{argument}` is not written in its shortest form"
        )
    return major, argument


def _text(reader: _Reader, length: int, path: Path) -> str:
    raw = reader.take(length, path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("CBOR_TEXT", path, "text is not valid UTF-8") from None
    if not unicodedata.is_normalized("NFC", text):
        raise PolicyError("CBOR_NFC", path, f"text `{text}` is not in Unicode NFC")
    return text


def _decode(reader: _Reader, path: Path, depth: int) -> Value:
    major, argument = _argument(reader, path)
    if major == UINT:
        if argument > MAX:
            raise PolicyError("CBOR_RANGE", path, f"`{argument}` is outside ±(2^53 − 1)")
        return argument
    if major == NINT:
        if argument > MAX - 1:
            raise PolicyError("CBOR_RANGE", path, f"`{-1 - argument}` is outside ±(2^53 − 1)")
        return -1 - argument
    if major == BYTES:
        return reader.take(argument, path)
    if major == TEXT:
        return _text(reader, argument, path)
    if major == SIMPLE:
        return {FALSE: False, TRUE: True, NULL: None}[argument]
    _check_depth(depth, path)
    # Every item takes at least one byte: a count beyond what is left is cut short.
    if argument * (2 if major == MAP else 1) > reader.left():
        raise PolicyError("CBOR_TRUNCATED", path, "the input ends inside an item")
    if major == ARRAY:
        return [_decode(reader, (*path, index), depth + 1) for index in range(argument)]
    return _decode_map(reader, argument, path, depth)


def _decode_map(reader: _Reader, count: int, path: Path, depth: int) -> dict[str, Value]:
    result: dict[str, Value] = {}
    previous = b""
    for _ in range(count):
        start = reader.pos
        if not reader.left():
            raise PolicyError("CBOR_TRUNCATED", path, "the input ends inside an item")
        # The key's major type is checked first, so no other key item is ever read.
        if reader.data[start] >> 5 != TEXT:
            raise PolicyError("CBOR_KEY", path, "a map key is not text")
        _, length = _argument(reader, path)
        key = _text(reader, length, path)
        encoded_key = reader.data[start : reader.pos]
        if encoded_key == previous:
            raise PolicyError("CBOR_DUPLICATE_KEY", (*path, key), f"key `{key}` appears twice")
        if encoded_key < previous:
            raise PolicyError(
                "CBOR_NON_CANONICAL", (*path, key), f"key `{key}` is out of canonical order"
            )
        previous = encoded_key
        result[key] = _decode(reader, (*path, key), depth + 1)
    return result


def decode(data: bytes) -> Value:
    """The value of canonical bytes `data` (§2.3); rejects anything `encode` would not write.

    Raises `CBOR_TRUNCATED`, `CBOR_TRAILING`, `CBOR_MALFORMED`, `CBOR_NON_CANONICAL`,
    `CBOR_UNSUPPORTED`, `CBOR_RANGE`, `CBOR_TEXT`, `CBOR_NFC`, `CBOR_KEY`,
    `CBOR_DUPLICATE_KEY` or `CBOR_DEPTH` with the path of the offending item.
    """
    reader = _Reader(bytes(data))
    value = _decode(reader, (), 1)
    if reader.left():
        raise PolicyError(
            "CBOR_TRAILING", (), f"{reader.left()} bytes follow the single top-level item"
        )
    return value
