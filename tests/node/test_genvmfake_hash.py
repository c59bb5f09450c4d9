"""The GenVM fake's host hashes (`__dflt.sha2_256`, `sha3_256`, newest V2) get exact bytes.

The fake ships a hash input to Python widened (each byte >= 0x80 as its two-byte UTF-8
form) instead of hex built byte by byte; these tests pin that every byte value, the
empty string and a start-up-sized input arrive unchanged, and that a non-string
argument still fails as a host error.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

import pytest
from support.testhooks import make

ALL_BYTES = bytes(range(256))


def _inputs() -> list[bytes]:
    rng = random.Random(13)
    return [
        b"",
        b"abc",
        ALL_BYTES,
        ALL_BYTES[::-1] * 3,
        "é—\u2028".encode(),  # valid UTF-8 must not be mistaken for widened text
        bytes(rng.getrandbits(8) for _ in range(300_000)),
    ]


@pytest.mark.parametrize(
    ("name", "reference"), [("sha2_256", hashlib.sha256), ("sha3_256", hashlib.sha3_256)]
)
def test_host_hash_gets_every_byte(name: str, reference: Callable[[bytes], Any]) -> None:
    vm = make("v2-new")
    # Lua builds the input from its hex form, so the string exists only on the Lua side.
    digest_hex = vm.lua.eval(
        "function(name, hex) local s = hex:gsub('..', function(h) return string.char("
        "tonumber(h, 16)) end); local d = __dflt[name](s); return (d:gsub('.', function(c)"
        " return string.format('%02x', c:byte()) end)) end"
    )
    for data in _inputs():
        want = reference(data).hexdigest()
        assert digest_hex(name, data.hex()) == want, (name, len(data))


def test_host_hash_of_a_non_string_is_a_host_error() -> None:
    vm = make("v2-new")
    got = vm.lua.eval("function() return pcall(__dflt.sha2_256, {}) end")()
    assert got[0] is False
