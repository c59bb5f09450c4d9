"""SPEC §1: checked integer operations and exact decimal parsing."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genvm_policy.core import numeric
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.numeric import MAX, NumberText, format_units, parse_decimal, to_int

in_range = st.integers(-MAX, MAX)
near_bound = st.one_of(in_range, st.integers(MAX - 3, MAX), st.integers(-MAX, -MAX + 3))
scales = st.integers(0, numeric.MAX_SCALE)


def code_of(
    fn: Callable[..., object], *args: object, **kwargs: object
) -> tuple[str, tuple[str | int, ...]]:
    with pytest.raises(PolicyError) as info:
        fn(*args, **kwargs)
    return info.value.code, info.value.path


# -- checked operations ---------------------------------------------------------

OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
}


@pytest.mark.parametrize("name", sorted(OPS))
@given(a=near_bound, b=near_bound)
def test_ops_agree_with_exact_arithmetic_and_raise_exactly_at_the_bound(
    name: str, a: int, b: int
) -> None:
    exact = OPS[name](a, b)
    op = getattr(numeric, name)
    if -MAX <= exact <= MAX:
        assert op(a, b, ("q",)) == exact
    else:
        assert code_of(op, a, b, ("q",)) == ("NUM_RANGE", ("q",))


@given(a=near_bound, b=near_bound)
def test_floordiv_rounds_toward_negative_infinity(a: int, b: int) -> None:
    if b == 0:
        assert code_of(numeric.floordiv, a, b, ("d",)) == ("NUM_DIV_ZERO", ("d",))
    else:
        q = numeric.floordiv(a, b)
        # The floor of the exact rational quotient, computed independently of `//`.
        assert q == Fraction(a, b).__floor__()
        assert q * b + (a - q * b) == a and (a - q * b == 0 or (a - q * b > 0) == (b > 0))


def test_floordiv_sign_rule_examples() -> None:
    assert [numeric.floordiv(a, b) for a, b in [(-7, 2), (7, -2), (-7, -2), (7, 2)]] == [
        -4,
        -4,
        3,
        3,
    ]


@pytest.mark.parametrize("bad", [MAX + 1, -MAX - 1, 2**64])
def test_operands_out_of_range_are_rejected(bad: int) -> None:
    for name in ("add", "sub", "mul", "floordiv"):
        assert code_of(getattr(numeric, name), bad, 1, (0,)) == ("NUM_RANGE", (0,))
        assert code_of(getattr(numeric, name), 1, bad, (0,)) == ("NUM_RANGE", (0,))
    assert code_of(numeric.neg, bad) == ("NUM_RANGE", ())
    assert code_of(numeric.check, bad, ("x",)) == ("NUM_RANGE", ("x",))


@pytest.mark.parametrize("bad", [True, False, 1.0, "1", None])
def test_check_wants_integers_not_booleans(bad: object) -> None:
    assert code_of(numeric.check, bad, ("x",)) == ("NUM_TYPE", ("x",))
    assert code_of(numeric.add, bad, 1) == ("NUM_TYPE", ())


@given(in_range)
def test_neg_is_exact(a: int) -> None:
    assert numeric.neg(a) == -a


# -- decimal text -----------------------------------------------------------------


@st.composite
def spellings(draw: st.DrawFn) -> tuple[Fraction, str]:
    """A decimal text in many spellings, with its exact value."""
    negative = draw(st.booleans())
    digits = draw(st.text("0123456789", min_size=1, max_size=18)).lstrip("0") or "0"
    point = draw(st.integers(0, len(digits)))
    whole, fraction = digits[: len(digits) - point] or "0", digits[len(digits) - point :]
    fraction += "0" * draw(st.integers(0, 3))
    exponent = draw(st.integers(-12, 12))
    text = ("-" if negative else "") + whole + ("." + fraction if fraction else "")
    if exponent or draw(st.booleans()):
        text += draw(st.sampled_from("eE")) + draw(st.sampled_from(["", "+"])) + str(exponent)
        text = text.replace("e+-", "e-").replace("E+-", "E-")
    value = Fraction(int(whole + fraction), 10 ** len(fraction)) * Fraction(10) ** exponent
    return (-value if negative else value), text


@given(spellings(), scales)
def test_decimal_parsing_is_exact_or_rejected(case: tuple[Fraction, str], scale: int) -> None:
    value, text = case
    units = value * 10**scale
    if units.denominator != 1:
        assert code_of(parse_decimal, text, scale, ("p",)) == ("NUM_INEXACT", ("p",))
    elif abs(units) > MAX:
        assert code_of(parse_decimal, text, scale, ("p",)) == ("NUM_RANGE", ("p",))
    else:
        assert parse_decimal(text, scale) == units.numerator
        assert to_int(NumberText(text), scale=scale) == units.numerator
        # The shortest text reads back to the same units.
        assert parse_decimal(format_units(units.numerator, scale), scale) == units.numerator


@given(spellings(), spellings())
def test_equal_spellings_are_equal(a: tuple[Fraction, str], b: tuple[Fraction, str]) -> None:
    for scale in (0, 6):
        got: list[int | None] = []
        for _, text in (a, b):
            try:
                got.append(parse_decimal(text, scale))
            except PolicyError:
                got.append(None)
        if a[0] == b[0]:
            assert got[0] == got[1]
        elif got[0] is not None and got[1] is not None:
            assert got[0] != got[1]


@pytest.mark.parametrize(
    ("text", "scale", "units"),
    [
        ("0.15", 6, 150_000),
        ("0.150", 6, 150_000),
        ("1.5e-1", 6, 150_000),
        ("15E-2", 6, 150_000),
        ("0.0375", 6, 37_500),
        ("2.5", 3, 2_500),
        ("-0", 0, 0),
        ("-0.5", 1, -5),
        ("9007199254740991", 0, MAX),
        ("-9007199254740991", 0, -MAX),
        ("9.007199254740991e15", 0, MAX),
        ("1e-64", 0, None),
        ("0e64", 0, 0),
    ],
)
def test_decimal_examples(text: str, scale: int, units: int | None) -> None:
    if units is None:
        assert code_of(parse_decimal, text, scale) == ("NUM_INEXACT", ())
    else:
        assert parse_decimal(text, scale) == units


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("NaN", "NUM_SYNTAX"),
        ("inf", "NUM_SYNTAX"),
        ("-Infinity", "NUM_SYNTAX"),
        ("0x10", "NUM_SYNTAX"),
        ("0o7", "NUM_SYNTAX"),
        ("1_000", "NUM_SYNTAX"),
        ("+1", "NUM_SYNTAX"),
        ("01", "NUM_SYNTAX"),
        (".5", "NUM_SYNTAX"),
        ("5.", "NUM_SYNTAX"),
        ("1e", "NUM_SYNTAX"),
        (" 1", "NUM_SYNTAX"),
        ("١", "NUM_SYNTAX"),  # an Arabic-Indic digit: only ASCII digits count
        ("", "NUM_SYNTAX"),
        ("1" * 65, "NUM_SYNTAX"),
        ("1e65", "NUM_RANGE"),
        ("1e-65", "NUM_RANGE"),
        ("9007199254740992", "NUM_RANGE"),
        ("-9007199254740992", "NUM_RANGE"),
        ("1e16", "NUM_RANGE"),
        ("0.5", "NUM_INEXACT"),
    ],
)
def test_decimal_rejections(text: str, code: str) -> None:
    assert code_of(parse_decimal, text, 0, ("a", 1)) == (code, ("a", 1))


def test_check_order_is_pinned() -> None:
    # Inexact wins over range; the exponent bound wins over exactness.
    assert code_of(parse_decimal, "12345678901234567890.5", 0) == ("NUM_INEXACT", ())
    assert code_of(parse_decimal, "0.5e-65", 0) == ("NUM_RANGE", ())
    assert code_of(parse_decimal, "1", 10) == ("NUM_SCALE", ())


def test_field_bounds() -> None:
    assert parse_decimal("2", 3, lo=0, hi=2000) == 2000
    assert code_of(parse_decimal, "2.001", 3, ("t",), lo=0, hi=2000) == ("NUM_RANGE", ("t",))
    assert code_of(to_int, -1, ("n",), lo=0) == ("NUM_RANGE", ("n",))


@pytest.mark.parametrize(
    ("value", "code"),
    [(0.15, "NUM_FLOAT"), (True, "NUM_TYPE"), (None, "NUM_TYPE"), ([1], "NUM_TYPE")],
)
def test_to_int_rejects_floats_and_non_numbers(value: object, code: str) -> None:
    assert code_of(to_int, value, ("x",), scale=6) == (code, ("x",))


@given(st.integers(-(10**9), 10**9), scales)
def test_an_integer_means_the_same_as_its_text(n: int, scale: int) -> None:
    units = n * 10**scale
    if abs(units) <= MAX:
        assert to_int(n, scale=scale) == to_int(str(n), scale=scale) == units
    else:
        assert code_of(to_int, n, scale=scale) == ("NUM_RANGE", ())


@pytest.mark.parametrize(
    ("units", "scale", "text"),
    [(150_000, 6, "0.15"), (3, 0, "3"), (-5, 1, "-0.5"), (0, 6, "0"), (-1, 9, "-0.000000001")],
)
def test_format_units(units: int, scale: int, text: str) -> None:
    assert format_units(units, scale) == text


@given(in_range, scales)
def test_format_units_is_shortest_and_exact(units: int, scale: int) -> None:
    text = format_units(units, scale)
    assert Fraction(text) == Fraction(units, 10**scale)
    assert not text.endswith(("0", ".")) or "." not in text
