"""Seeded randomness: HMAC-SHA256 call keys and labelled counter-mode streams.

Spec: docs/SPEC.md §4 (Seeded randomness).

Rules:
1. SHA-256 is FIPS 180-4; HMAC-SHA256 is RFC 2104 over SHA-256 (64-byte block).
2. The call key is `HMAC(salt, "genvm-policy/v1/call-key" || 0x00 || cbor(material))`
   with a 32-byte salt; a key given directly has 1 … 64 bytes (`PRNG_KEY`).
3. The seed commitment is `identity("seed-commitment", key)`: publishable, it
   reveals neither the key nor the salt.
4. A stream is `(key, label)`; block `i` is `HMAC(key, label || 0x00 || u32be(i))`
   and the stream's bytes are blocks 0, 1, … in order. Labels are 1 … 48 bytes
   of UTF-8 without NUL (`PRNG_LABEL`); indexes stay below 2^32 (`PRNG_INDEX`).
5. `u53` is the top 53 bits of the next 8 bytes read big-endian, `u32` the next
   4 bytes; `below(n)` draws `u32` when `n ≤ 2^32` (else `u53`) and rejects
   draws at or above `W − (W mod n)`, `W` the draw's range, so every result is
   equally likely; small bounds take 4 bytes, eight draws per block.
6. A stream may be opened behind a *head*: given bytes read first, then the
   stream's own blocks. A head is a part of a block another purpose made, so
   several purposes share one block and each still reads only its own bytes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from genvm_policy.core.encoding import Value, encode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.identity import identity

__all__ = [
    "CALL_KEY_TAG",
    "SALT_BYTES",
    "Stream",
    "call_key",
    "hmac_sha256",
    "seed_commitment",
    "sha256",
    "stream_block",
]

SALT_BYTES = 32
"""The length of a node's secret salt."""

MAX_KEY_BYTES = 64
"""The longest key a stream accepts: one HMAC block, so it is never pre-hashed."""

MAX_LABEL_BYTES = 48
"""The longest stream label: label, NUL and index then fit one HMAC block."""

BLOCKS = 2**32
"""The number of blocks of one stream (indexes are 4-byte big-endian)."""

TOP = 2**53
"""The number of values `u53` draws from."""

WORD = 2**32
"""The number of values `u32` draws from: `below` uses it for bounds up to WORD."""

CALL_KEY_TAG = b"genvm-policy/v1/call-key\x00"
"""The domain tag in front of the per-call material (rule 2)."""


def sha256(data: bytes) -> bytes:
    """SHA-256 of `data` (FIPS 180-4)."""
    return hashlib.sha256(data).digest()


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    """HMAC-SHA256 of `msg` under `key` (RFC 2104)."""
    return hmac.new(key, msg, hashlib.sha256).digest()


def _check_key(key: bytes, low: int, high: int, what: str) -> None:
    if not isinstance(key, bytes) or not low <= len(key) <= high:
        size = f"{low}" if low == high else f"{low} … {high}"
        raise PolicyError(
            "PRNG_KEY",
            (),
            f"the {what} must be {size} bytes",
            hint="a node salt is 32 random bytes; a seed is 1 … 64 bytes written as hex",
        )


def _label_bytes(label: str) -> bytes:
    raw = label.encode("utf-8", "replace") if isinstance(label, str) else b""
    if (
        not isinstance(label, str)
        # A lone surrogate cannot be written as UTF-8; `replace` shows it as `?`.
        or raw != label.encode("utf-8", "surrogatepass")
        or not 1 <= len(raw) <= MAX_LABEL_BYTES
        or b"\x00" in raw
    ):
        raise PolicyError(
            "PRNG_LABEL",
            (),
            f"the stream label `{label!s:.60}` is not 1 … {MAX_LABEL_BYTES} bytes "
            "of UTF-8 without NUL",
        )
    return raw


def call_key(salt: bytes, material: Mapping[str, Value]) -> bytes:
    """The 32-byte key of one call from the node's salt and its material (rule 2).

    Raises `PRNG_KEY` unless the salt has 32 bytes, `PRNG_MATERIAL` unless the
    material is a map, and the codes of `encoding.encode`.
    """
    _check_key(salt, SALT_BYTES, SALT_BYTES, "node salt")
    if not isinstance(material, Mapping):
        raise PolicyError("PRNG_MATERIAL", (), "the per-call material must be a map")
    return hmac_sha256(salt, CALL_KEY_TAG + encode(material))


def seed_commitment(key: bytes) -> str:
    """The publishable commitment to a call key (rule 3). Raises `PRNG_KEY`."""
    _check_key(key, 1, MAX_KEY_BYTES, "seed")
    return identity("seed-commitment", key)


def stream_block(key: bytes, label: str, index: int) -> bytes:
    """Block `index` of the stream `(key, label)` (rule 4).

    Raises `PRNG_KEY`, `PRNG_LABEL`, or `PRNG_INDEX` unless `0 ≤ index < 2^32`.
    """
    _check_key(key, 1, MAX_KEY_BYTES, "seed")
    raw = _label_bytes(label)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < BLOCKS:
        raise PolicyError("PRNG_INDEX", (), f"the block index `{index}` is outside 0 … 2^32 − 1")
    return hmac_sha256(key, raw + b"\x00" + index.to_bytes(4, "big"))


class Stream:
    """The bytes of one labelled stream, read front to back (rules 4 and 5)."""

    def __init__(self, key: bytes, label: str, head: bytes = b"") -> None:
        """Open the stream `(key, label)`, read after the bytes `head` (rule 6).

        Raises `PRNG_KEY`, `PRNG_LABEL`.
        """
        _check_key(key, 1, MAX_KEY_BYTES, "seed")
        _label_bytes(label)
        self._key = key
        self._label = label
        self._next_block = 0
        self._buffer = head

    def read(self, n: int) -> bytes:
        """The next `n` bytes of the stream; `n` must be 0 or more."""
        if n < 0:
            raise ValueError("a stream cannot read a negative number of bytes")
        while len(self._buffer) < n:
            self._buffer += stream_block(self._key, self._label, self._next_block)
            self._next_block += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def u53(self) -> int:
        """The top 53 bits of the next 8 bytes, read as a big-endian integer (rule 5)."""
        return int.from_bytes(self.read(8), "big") >> 11

    def u32(self) -> int:
        """The next 4 bytes, read as a big-endian integer (rule 5)."""
        return int.from_bytes(self.read(4), "big")

    def below(self, n: int) -> int:
        """A uniform draw from `0 … n − 1`, `1 ≤ n ≤ 2^53` (rule 5). Raises `PRNG_BOUND`."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= TOP:
            raise PolicyError("PRNG_BOUND", (), f"a draw below `{n}` is outside the range 1 … 2^53")
        draw, size = (self.u32, WORD) if n <= WORD else (self.u53, TOP)
        limit = size - size % n
        while True:
            r = draw()
            if r < limit:
                return r % n
