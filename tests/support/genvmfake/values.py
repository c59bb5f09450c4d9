"""Host values the hook can hold but not look into, and the Lua ↔ Python value bridge.

GENVM.md §4: GenVM's errors, the unset-`meta` NULL and the session handles on `ctx` are
userdata. The fake makes them Python objects, which lupa hands to Lua as userdata whose
indexing raises; only the fake's host functions (Python) see inside them.

Rules:
1. Strings cross from Lua to Python hex-encoded by `host.lua` (prefix `s`), tables as flat
   key/value lists: lupa decodes Lua strings as UTF-8 and fails on image bytes, so the
   bridge keeps every byte and `decode` gives `bytes` back. Hash inputs cross widened
   (prefix `w`): each byte >= 0x80 as its two-byte UTF-8 form, so the text's code points
   are the bytes and Latin-1 gives them back in one call.
2. `encode` builds fresh Lua tables; with an `rng` it inserts map keys in a shuffled order,
   so `pairs` order cannot be relied on (GENVM.md §8, harness item 3).
3. A `Rat` is an exact rational (newest V2 `rat`); constructors truncate floats, as GenVM's
   do; its arithmetic metamethods are installed on lupa's shared object metatable.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from lupa import lua53, lua54

__all__ = [
    "NULL",
    "CtxPart",
    "Exhausted",
    "HostError",
    "ModuleError",
    "Null",
    "Opaque",
    "Rat",
    "as_list",
    "decode",
    "encode",
    "rat_value",
    "serde_seq",
    "text",
]


class Opaque:
    """Base of host userdata: any index from Lua raises, `tostring` shows `describe()`."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        raise AttributeError(f"attempt to index a {type(self).__name__} userdata value")

    def describe(self) -> str:
        """The text Lua's `tostring` shows (overridden per kind)."""
        return f"userdata: {type(self).__name__}"

    def __str__(self) -> str:
        return type(self).describe(self)


class Null(Opaque):
    """mlua's NULL light userdata: truthy, `type()` "userdata", indexing raises."""

    __slots__ = ()

    def describe(self) -> str:
        return "userdata: 0x0000000000000000"


NULL = Null()


class ModuleError(Opaque):
    """A GenVM module error: `causes` (kind first), `fatal`, `ctx`; decoded by `as_user_error`."""

    __slots__ = ("_causes", "_ctx", "_fatal")

    def __init__(self, causes: list[str], fatal: bool, ctx: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_causes", list(causes))
        object.__setattr__(self, "_fatal", fatal)
        object.__setattr__(self, "_ctx", dict(ctx))

    def parts(self) -> tuple[list[str], bool, dict[str, Any]]:
        """(causes, fatal, ctx) for the fake's own use."""
        get = object.__getattribute__
        return list(get(self, "_causes")), bool(get(self, "_fatal")), dict(get(self, "_ctx"))

    def describe(self) -> str:
        causes, fatal, _ = ModuleError.parts(self)
        return f"ModuleError {{ causes: {causes}, fatal: {str(fatal).lower()} }}"


class HostError(Opaque):
    """A non-module host error (bad request fields, unknown provider): `as_user_error` → nil."""

    __slots__ = ("_message",)

    def __init__(self, message: str) -> None:
        object.__setattr__(self, "_message", message)

    def describe(self) -> str:
        return str(object.__getattribute__(self, "_message"))


class Exhausted(Opaque):
    """Raised by newest-V2 `__llm.exhaust()`; the driver turns it into the exhaustion result."""

    __slots__ = ()

    def describe(self) -> str:
        return "budget exhausted"


class CtxPart(Opaque):
    """The `__ctx_dflt` / `__ctx_llm` sentinel: which session a host call belongs to."""

    __slots__ = ("_kind", "_session")

    def __init__(self, session: int, kind: str) -> None:
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_kind", kind)

    def ident(self) -> tuple[int, str]:
        """(session number, "dflt" or "llm")."""
        get = object.__getattribute__
        return int(get(self, "_session")), str(get(self, "_kind"))


_RAT_METHODS = frozenset(
    {
        "numer",
        "denom",
        "to_float",
        "abs",
        "sign",
        "is_zero",
        "is_integer",
        "floor",
        "ceil",
        "trunc",
        "pow",
    }
)


class Rat:
    """Exact rational with the newest-V2 method surface; other attributes are hidden."""

    __slots__ = ("_v",)

    def __init__(self, value: Fraction) -> None:
        object.__setattr__(self, "_v", value)

    def __getattribute__(self, name: str) -> Any:
        if name in _RAT_METHODS:
            return object.__getattribute__(self, name)
        raise AttributeError(f"rat has no field `{name}`")

    def __str__(self) -> str:
        return str(rat_value(self))

    def numer(self) -> str:
        """Numerator as decimal text."""
        return str(rat_value(self).numerator)

    def denom(self) -> str:
        """Denominator as decimal text."""
        return str(rat_value(self).denominator)

    def to_float(self) -> float:
        """Nearest float (a convenience of GenVM's rat, never used for decisions)."""
        return float(rat_value(self))

    def abs(self) -> Rat:
        """Absolute value."""
        return Rat(abs(rat_value(self)))

    def sign(self) -> int:
        """-1, 0 or 1."""
        v = rat_value(self)
        return (v > 0) - (v < 0)

    def is_zero(self) -> bool:
        """True for zero."""
        return rat_value(self) == 0

    def is_integer(self) -> bool:
        """True when the denominator is 1."""
        return rat_value(self).denominator == 1

    def floor(self) -> Rat:
        """Round toward −∞."""
        return Rat(Fraction(rat_value(self).__floor__()))

    def ceil(self) -> Rat:
        """Round toward +∞."""
        return Rat(Fraction(rat_value(self).__ceil__()))

    def trunc(self) -> Rat:
        """Round toward zero."""
        return Rat(Fraction(rat_value(self).__trunc__()))

    def pow(self, exp: int) -> Rat:
        """Integer power; zero to a non-positive power is an error."""
        if rat_value(self) == 0 and exp <= 0:
            raise ZeroDivisionError("zero raised to a non-positive power")
        return Rat(rat_value(self) ** exp)


def rat_value(r: Rat) -> Fraction:
    """The exact value of a `Rat` (kept off its Lua-visible surface)."""
    v: Fraction = object.__getattribute__(r, "_v")
    return v


def text(value: Any) -> str | None:
    """A decoded Lua string as text (None when it is not a UTF-8 string)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def decode(value: Any) -> Any:
    """Python value of what `host.lua`'s `export` produced (rule 1); tables become dicts."""
    if isinstance(value, str):
        if value.startswith("w"):
            return value[1:].encode("latin-1")
        return bytes.fromhex(value[1:])
    # A table of either runtime's state (the fake also runs hooks in Lua 5.4).
    if (lua53.lua_type(value) or lua54.lua_type(value)) == "table":
        flat = [value[i] for i in range(1, len(value) + 1)]
        return {decode(flat[i]): decode(flat[i + 1]) for i in range(0, len(flat), 2)}
    return value


def as_list(value: Any) -> list[Any] | None:
    """The elements of a decoded Lua sequence `{1 = …, n = …}`, or None if it is not one."""
    if not isinstance(value, dict):
        return None
    keys = list(value)
    if any(type(k) is not int for k in keys) or sorted(keys) != list(range(1, len(keys) + 1)):
        return None
    return [value[i] for i in range(1, len(keys) + 1)]


def serde_seq(value: Any) -> list[Any] | None:
    """A decoded Lua table read as mlua's serde reads a sequence (a Rust `Vec`): the values
    at 1, 2, … up to the first missing index; every other key is ignored, so `{}`, a map
    and `{[2] = x}` all read as empty. None when `value` is not a table."""
    if not isinstance(value, dict):
        return None
    out: list[Any] = []
    while len(out) + 1 in value:
        out.append(value[len(out) + 1])
    return out


def encode(lua: Any, value: Any, rng: random.Random | None = None) -> Any:
    """A fresh Lua value for `value`: dicts and lists become tables, None stays nil (rule 2)."""
    if isinstance(value, dict):
        table = lua.table()
        items = list(value.items())
        if rng is not None:
            rng.shuffle(items)
        for k, v in items:
            if v is not None:
                table[k] = encode(lua, v, rng)
        return table
    if isinstance(value, list | tuple):
        table = lua.table()
        for i, v in enumerate(value, start=1):
            table[i] = encode(lua, v, rng)
        return table
    return value
