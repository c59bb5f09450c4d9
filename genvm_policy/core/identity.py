"""Identities: SHA-256 over a versioned domain tag and the canonical bytes.

Spec: docs/SPEC.md §3 (Identity).

Rules:
1. `digest(kind, value) = SHA-256("genvm-policy/v1/" || kind || 0x00 || cbor(value))`;
   the tag separates kinds, so equal values of two kinds never share an identity.
2. Only the kinds in `KINDS` exist (`ID_KIND` otherwise); the tag's version
   changes only with the specification's major version.
3. An identity is printed as `sha256:` and 64 lower-case hex digits, and only
   that text parses back (`ID_SYNTAX`).
"""

from __future__ import annotations

import hashlib
import re

from genvm_policy.core.encoding import Value, encode
from genvm_policy.core.errors import Path, PolicyError

__all__ = ["KINDS", "PREFIX", "TAG", "digest", "identity", "parse_identity"]

KINDS: tuple[str, ...] = (
    "catalog",
    "genvm-view",
    "policy",
    "request",
    "decision",
    "seed-commitment",
    "compiled",
)
"""Every kind of identity (SPEC §3); each gets its own domain tag."""

TAG = b"genvm-policy/v1/"
"""The versioned start of every domain tag."""

PREFIX = "sha256:"
"""The start of an identity's text form."""

_TEXT = re.compile(r"sha256:[0-9a-f]{64}")


def digest(kind: str, value: Value) -> bytes:
    """The 32-byte identity of `value` as a `kind` (rule 1).

    Raises `ID_KIND` for an unknown kind, and the codes of `encoding.encode`.
    """
    if kind not in KINDS:
        raise PolicyError(
            "ID_KIND",
            (),
            f"`{kind}` is not a kind of identity",
            hint="use one of " + ", ".join(KINDS),
        )
    return hashlib.sha256(TAG + kind.encode("utf-8") + b"\x00" + encode(value)).digest()


def identity(kind: str, value: Value) -> str:
    """The identity of `value` as a `kind`, printed as `sha256:<64 hex>` (rule 3)."""
    return PREFIX + digest(kind, value).hex()


def parse_identity(text: str, path: Path = ()) -> bytes:
    """The 32 bytes of an identity text; raises `ID_SYNTAX` unless it is exact (rule 3)."""
    if not isinstance(text, str) or _TEXT.fullmatch(text) is None:
        shown = text if isinstance(text, str) and len(text) <= 80 else "this value"
        raise PolicyError(
            "ID_SYNTAX",
            path,
            f"`{shown}` is not an identity",
            hint="write `sha256:` followed by 64 lower-case hex digits",
        )
    return bytes.fromhex(text[len(PREFIX) :])
