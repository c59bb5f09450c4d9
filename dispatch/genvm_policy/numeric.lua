--- Exact integer numbers: bounds and checked operations.
--
-- Spec: docs/SPEC.md §1 (Numbers). Mirrors genvm_policy/numeric.py; decimal
-- text is parsed only by the reference at admission, so `parse_decimal`,
-- `to_int` and `format_units` have no port here.
--
-- Rules:
-- 1. Every quantity is a Lua integer (`math.type(x) == "integer"`) in
--    `[-MAX, MAX]`, `MAX = 2^53 - 1`.
-- 2. `add`, `sub`, `mul`, `neg`, `floordiv` take operands in range and raise
--    `NUM_RANGE` when the exact result leaves it. Lua integers wrap silently
--    at 2^63, so every bound is checked before the operation that could wrap:
--    sums of in-range operands stay below 2^54 and cannot wrap; products are
--    bounded by a division first.
-- 3. `floordiv` rounds toward negative infinity (Lua's integer `//` does) and
--    raises `NUM_DIV_ZERO` on a zero divisor.
-- 4. A float is never a number here (`NUM_TYPE`, as in the reference). Values
--    GenVM hands over (an HTTP status `503.0`) go through `from_host` first.

local errors = require("genvm_policy.errors")

local M = {}

--- The bound of every stored or computed integer (rule 1), 2^53 - 1.
M.MAX = require("genvm_policy.tables").numeric.MAX

local MAX = M.MAX
local mathtype = math.type

local function describe(value)
  local t = type(value)
  if t == "number" then
    return "a binary float"
  elseif t == "string" then
    return "text"
  elseif t == "boolean" then
    return value and "`true`" or "`false`"
  elseif t == "nil" then
    return "null"
  end
  return "a value of another kind"
end

local function range_error(path, what)
  errors.raise("NUM_RANGE", path, what .. " is outside ±(2^53 − 1)",
    "every quantity must stay within ±9007199254740991")
end

--- Return `a` if it is an integer in `[-MAX, MAX]` (§1.1).
--- Raises `NUM_TYPE` for a non-integer (floats and booleans included), `NUM_RANGE`.
function M.check(a, path)
  if mathtype(a) ~= "integer" then
    errors.raise("NUM_TYPE", path, "expected an integer, got " .. describe(a))
  end
  if a < -MAX or a > MAX then
    range_error(path, "`" .. a .. "`")
  end
  return a
end

local check = M.check

--- `a + b`, checked (§1.2). Raises `NUM_TYPE`, `NUM_RANGE`.
function M.add(a, b, path)
  check(a, path)
  check(b, path)
  local result = a + b
  if result < -MAX or result > MAX then
    range_error(path, "the sum of `" .. a .. "` and `" .. b .. "`")
  end
  return result
end

--- `a - b`, checked (§1.2). Raises `NUM_TYPE`, `NUM_RANGE`.
function M.sub(a, b, path)
  check(a, path)
  check(b, path)
  local result = a - b
  if result < -MAX or result > MAX then
    range_error(path, "the difference of `" .. a .. "` and `" .. b .. "`")
  end
  return result
end

--- `a * b`, checked (§1.2). Raises `NUM_TYPE`, `NUM_RANGE`.
function M.mul(a, b, path)
  check(a, path)
  check(b, path)
  -- |a * b| <= MAX  iff  |b| <= MAX // |a| for a ~= 0: decided without
  -- forming the product, which could wrap past 2^63.
  if a ~= 0 then
    local abs_a = a < 0 and -a or a
    local abs_b = b < 0 and -b or b
    if abs_b > MAX // abs_a then
      range_error(path, "the product of `" .. a .. "` and `" .. b .. "`")
    end
  end
  return a * b
end

--- `-a`, checked (§1.2); never leaves the range, which is symmetric. Raises `NUM_TYPE`.
function M.neg(a, path)
  return -check(a, path)
end

--- Units of `10^-scale` of a constant's `[mantissa, exponent]` pair, exactly
--- (the reference's `numeric.decimal_units`). Raises `NUM_INEXACT` when
--- the constant has more fractional digits than `scale`, `NUM_RANGE` past MAX.
function M.decimal_units(pair, scale, path)
  local shift = pair[2] + scale
  if shift < 0 then
    errors.raise("NUM_INEXACT", path, "the constant needs more than " .. scale
      .. " fractional digits for this field")
  end
  local value = pair[1]
  for _ = 1, shift do
    value = M.mul(value, 10, path)
  end
  return value
end

--- `a // b` rounded toward negative infinity (§1.2): `-7 // 2 = -4`.
--- Raises `NUM_TYPE`, `NUM_RANGE` (an operand out of range), `NUM_DIV_ZERO`.
function M.floordiv(a, b, path)
  check(a, path)
  if check(b, path) == 0 then
    errors.raise("NUM_DIV_ZERO", path, "`" .. a .. "` is divided by zero")
  end
  return a // b
end

--- Normalise a number from the host (§1.5, rule 4): an integer, or a float
--- with an integral value (`503.0`), in `[-MAX, MAX]` becomes that integer;
--- anything else (a fraction, inf, NaN, text, nil) gives nil.
function M.from_host(x)
  if type(x) ~= "number" then
    return nil
  end
  local n = math.tointeger(x)
  if n == nil or n < -MAX or n > MAX then
    return nil
  end
  return n
end

return M
