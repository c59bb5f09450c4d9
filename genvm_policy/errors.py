"""Errors the user can cause: one base class, one registry of stable codes.

Spec: docs/SPEC.md §0 (Errors).

Rules:
1. Every error a user can cause is a `PolicyError` with a code from `CODES`,
   a path into the offending input and a plain one-line message; advice that
   does not fit the message goes into `hint`.
2. Codes are stable: a code is never renamed or reused for another rule; the
   Lua runtime raises the same (code, path) pair for the same input.
3. A path is a tuple of segments: text for map keys, integers for array
   positions. `render_path` prints it for people; vectors store the tuple.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

__all__ = ["CODES", "Path", "PolicyError", "render_path"]

Path = tuple[str | int, ...]

# code -> raised when.  Grouped by the spec section that owns the rule.
CODES: dict[str, str] = {
    # -- §1 numeric --------------------------------------------------------
    "NUM_SYNTAX": "a decimal or integer text does not follow the number grammar",
    "NUM_INEXACT": "a decimal needs more fractional digits than its quantity's scale",
    "NUM_RANGE": "a value or an intermediate result leaves ±(2^53 − 1) or its declared bounds",
    "NUM_FLOAT": "a binary float arrives where only an exact integer or decimal text is allowed",
    "NUM_DIV_ZERO": "an integer division has a zero divisor",
    "NUM_TYPE": "a number is required and something else was given",
    # -- §2 encoding -------------------------------------------------------
    "CBOR_TYPE": "a value outside the restricted data model is encoded",
    "CBOR_TEXT": "a text string is not valid UTF-8 or not in Unicode NFC",
    "CBOR_KEY": "a map key is not text",
    "CBOR_DUPLICATE_KEY": "a map holds the same key twice",
    "CBOR_DEPTH": "nesting is deeper than the encoding limit",
    "CBOR_TRUNCATED": "the input ends inside an item",
    "CBOR_TRAILING": "bytes follow the single top-level item",
    "CBOR_NON_CANONICAL": "the input is well-formed but not in canonical form",
    "CBOR_UNSUPPORTED": "the input uses a major type, tag, float or simple value outside the model",
    # -- §3 identity -------------------------------------------------------
    "ID_KIND": "an identity is asked for an unknown kind",
    "ID_SYNTAX": "an identity text is not `sha256:` followed by 64 lower-case hex digits",
    # -- §4 prng -----------------------------------------------------------
    "PRNG_LABEL": "a stream label is empty, too long or holds a NUL byte",
    "PRNG_BOUND": "a bounded draw asks for a range outside 1 … 2^53",
    "PRNG_KEY": "a seed or salt has the wrong length",
    "PRNG_MATERIAL": "per-call material is missing a field or has a wrong one",
}


def render_path(path: Sequence[str | int]) -> str:
    """Render a path for people: `backends.openai.models["gpt-4o"]`, `$` for the root."""
    out = "$"
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", seg):
            out += f".{seg}"
        else:
            out += "[" + json.dumps(seg, ensure_ascii=False) + "]"
    return out


class PolicyError(Exception):
    """An error the user caused, with a stable code, a path and a plain message."""

    def __init__(
        self, code: str, path: Sequence[str | int], message: str, hint: str | None = None
    ) -> None:
        if code not in CODES:
            # A programming error, not a user error: every code must be registered.
            raise KeyError(f"unregistered error code {code}")
        self.code = code
        self.path: Path = tuple(path)
        self.message = message
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        """One line for people: `CODE at $.path: message`, then the hint if any."""
        text = f"{self.code} at {render_path(self.path)}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def at(self, *prefix: str | int) -> PolicyError:
        """Return the same error with `prefix` put in front of its path."""
        return PolicyError(self.code, (*prefix, *self.path), self.message, self.hint)

    def as_value(self) -> dict[str, object]:
        """The language-neutral form vectors store: code and path segments."""
        return {"code": self.code, "path": list(self.path)}
