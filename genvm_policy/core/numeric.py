"""Exact integer numbers: bounds, checked operations, decimal text to units.

Spec: docs/SPEC.md §1 (Numbers).

Rules:
1. Every quantity is an `int` in `[-MAX, MAX]`, `MAX = 2^53 - 1`: the largest
   integer an IEEE double, a Lua 5.3 integer and a Python `int` all hold exactly.
2. The checked operations `add`, `sub`, `mul`, `neg`, `floordiv` take operands
   in range and raise `NUM_RANGE` when the exact result leaves it; `floordiv`
   rounds toward negative infinity and raises `NUM_DIV_ZERO` on a zero divisor.
3. A decimal is stored as an integer count of `10^-scale` units; the scale is
   pinned per quantity kind (`SCALES`) or declared (0 … 9).
4. Decimal text follows one grammar (`parse_decimal`); it converts exactly or is
   rejected, never rounded. Checks run in a pinned order (SPEC §1.4): scale,
   length and grammar, exponent bound, exactness, range.
5. A binary float is never a number here (`NUM_FLOAT`); booleans never are.
"""

from __future__ import annotations

import re

from genvm_policy.core.errors import Path, PolicyError

__all__ = [
    "MAX",
    "MAX_SCALE",
    "SCALES",
    "NumberText",
    "add",
    "check",
    "decimal_units",
    "floordiv",
    "format_units",
    "mul",
    "neg",
    "parse_decimal",
    "sub",
    "to_int",
]

MAX = 2**53 - 1
"""The bound of every stored or computed integer (rule 1)."""

SCALES: dict[str, int] = {"price": 6, "temperature": 3, "count": 0}
"""Decimal scale per quantity kind (rule 3; the table in SPEC §1.3 says why)."""

MAX_SCALE = 9
"""The largest scale an operator may declare for a field of its own."""

MAX_TEXT = 64
"""The longest decimal text accepted, in characters (bounds the parsing work)."""

MAX_EXPONENT = 64
"""The largest magnitude of a decimal exponent (`1e64`, `1e-64`)."""

# Only ASCII digits: `[0-9]`, not `\d`, which also matches other scripts' digits.
_GRAMMAR = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")

_BOUND_TEXT = "±(2^53 − 1)"


class NumberText(str):
    """A number token's text exactly as written in a YAML, JSON or TOML file.

    Loaders wrap every number token in this class so that `0.15` reaches the
    core as the text `"0.15"`, never as the binary double nearest to it.
    """

    __slots__ = ()


def _range_error(path: Path, what: str) -> PolicyError:
    return PolicyError(
        "NUM_RANGE",
        path,
        f"{what} is outside {_BOUND_TEXT}",
        hint="every quantity must stay within ±9007199254740991",
    )


def check(a: int, path: Path = ()) -> int:
    """Return `a` if it is an integer in `[-MAX, MAX]` (§1.1).

    Raises `NUM_TYPE` for a non-integer (booleans included), `NUM_RANGE` out of range.
    """
    if isinstance(a, bool) or not isinstance(a, int):
        raise PolicyError("NUM_TYPE", path, f"expected an integer, got {_describe(a)}")
    if a < -MAX or a > MAX:
        raise _range_error(path, f"`{a}`")
    return a


def add(a: int, b: int, path: Path = ()) -> int:
    """`a + b`, checked (§1.2). Raises `NUM_TYPE`, `NUM_RANGE`."""
    result = check(a, path) + check(b, path)
    if result < -MAX or result > MAX:
        raise _range_error(path, f"the sum of `{a}` and `{b}`")
    return result


def sub(a: int, b: int, path: Path = ()) -> int:
    """`a - b`, checked (§1.2). Raises `NUM_TYPE`, `NUM_RANGE`."""
    result = check(a, path) - check(b, path)
    if result < -MAX or result > MAX:
        raise _range_error(path, f"the difference of `{a}` and `{b}`")
    return result


def mul(a: int, b: int, path: Path = ()) -> int:
    """`a * b`, checked (§1.2). Raises `NUM_TYPE`, `NUM_RANGE`."""
    result = check(a, path) * check(b, path)
    if result < -MAX or result > MAX:
        raise _range_error(path, f"the product of `{a}` and `{b}`")
    return result


def neg(a: int, path: Path = ()) -> int:
    """`-a`, checked (§1.2); never leaves the range, which is symmetric. Raises `NUM_TYPE`."""
    return -check(a, path)


def decimal_units(pair: list[int], scale: int, path: Path) -> int:
    """Units of `10^-scale` of a `[mantissa, exponent]` pair, exactly, or `NUM_INEXACT`."""
    mantissa, exponent = pair
    shift = exponent + scale
    if shift >= 0:
        return to_int(mantissa * 10**shift, path)
    raise PolicyError(
        "NUM_INEXACT",
        path,
        f"the constant needs more than {scale} fractional digits for this field",
    )


def floordiv(a: int, b: int, path: Path = ()) -> int:
    """`a // b` rounded toward negative infinity (§1.2): `-7 // 2 = -4`.

    Raises `NUM_TYPE`, `NUM_RANGE` (an operand out of range), `NUM_DIV_ZERO`.
    The quotient of in-range operands is always in range, so no result check.
    """
    check(a, path)
    if check(b, path) == 0:
        raise PolicyError("NUM_DIV_ZERO", path, f"`{a}` is divided by zero")
    return a // b


def _check_scale(scale: int, path: Path) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= MAX_SCALE:
        raise PolicyError(
            "NUM_SCALE", path, f"the decimal scale `{scale}` is outside 0 … {MAX_SCALE}"
        )


def parse_decimal(text: str, scale: int, path: Path = (), *, lo: int = -MAX, hi: int = MAX) -> int:
    """Convert decimal `text` exactly into units of `10^-scale` (§1.4).

    `"0.15"` at scale 6 is `150000`. Checks in order: `NUM_SCALE` (scale not
    0 … 9), `NUM_SYNTAX` (longer than 64 characters or off the grammar),
    `NUM_RANGE` (exponent beyond ±64), `NUM_INEXACT` (needs more fractional
    digits than the scale), `NUM_RANGE` (result outside `[lo, hi]` or ±MAX).
    """
    _check_scale(scale, path)
    match = _GRAMMAR.fullmatch(text) if len(text) <= MAX_TEXT else None
    if match is None:
        shown = text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"
        raise PolicyError(
            "NUM_SYNTAX",
            path,
            f"`{shown}` is not a decimal number",
            hint="write digits with an optional `-`, `.` fraction and `e` exponent, "
            f"at most {MAX_TEXT} characters, like `0.15` or `2e3`",
        )
    sign, whole, fraction, exponent_text = match.groups()
    fraction = fraction or ""
    exponent = int(exponent_text or "0")
    if not -MAX_EXPONENT <= exponent <= MAX_EXPONENT:
        raise PolicyError("NUM_RANGE", path, f"the exponent of `{text}` is outside ±{MAX_EXPONENT}")
    # value = digits × 10^shift units, where digits is the mantissa without its point.
    digits = int(whole + fraction)
    shift = exponent - len(fraction) + scale
    if shift >= 0:
        units = digits * 10**shift
    else:
        units, rest = divmod(digits, 10**-shift)
        if rest:
            raise PolicyError(
                "NUM_INEXACT",
                path,
                f"`{text}` needs more than {scale} fractional digits",
                hint=f"this quantity is exact to {scale} decimal places; round it yourself",
            )
    return _bounded(-units if sign else units, text, scale, path, lo, hi)


def _bounded(units: int, shown: str, scale: int, path: Path, lo: int, hi: int) -> int:
    """Return `units` if within `[lo, hi]` and ±MAX, else `NUM_RANGE` naming the bounds."""
    low, high = max(lo, -MAX), min(hi, MAX)
    if not low <= units <= high:
        raise PolicyError(
            "NUM_RANGE",
            path,
            f"`{shown}` is outside {format_units(low, scale)} … {format_units(high, scale)}",
        )
    return units


def to_int(value: object, path: Path = (), *, scale: int = 0, lo: int = -MAX, hi: int = MAX) -> int:
    """Convert a loaded number to units of `10^-scale`, bounded by `[lo, hi]` (§1.5).

    An `int` (never a `bool`) is a number in whole units, so `2` at scale 6 is
    `2000000`, as is the text `"2"`. Text (a `NumberText` token or a plain
    string) goes through `parse_decimal`. Raises `NUM_FLOAT` for a binary float,
    `NUM_TYPE` for anything else, and the codes of `parse_decimal`.
    """
    if isinstance(value, float):
        raise PolicyError(
            "NUM_FLOAT",
            path,
            f"the binary number `{value!r}` cannot be used exactly",
            hint="load the file so that number tokens keep their text, or quote the number",
        )
    if isinstance(value, str):
        return parse_decimal(value, scale, path, lo=lo, hi=hi)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError("NUM_TYPE", path, f"expected a number, got {_describe(value)}")
    _check_scale(scale, path)
    return _bounded(value * 10**scale, str(value), scale, path, lo, hi)


def format_units(units: int, scale: int) -> str:
    """The shortest exact decimal text of `units` at `scale`: 150000 at 6 is `0.15`."""
    whole, fraction = divmod(abs(units), 10**scale)
    text = str(whole)
    digits = str(fraction).rjust(scale, "0").rstrip("0") if scale else ""
    if digits:
        text += "." + digits
    return "-" + text if units < 0 else text


def _describe(value: object) -> str:
    """Name a value by the data model's words, never by a host type name."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bytes | bytearray):
        return "a byte string"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list | tuple):
        return "a list"
    return "a value of another kind"
