--- Bind-time bounds: prove that no decision of a bound policy can leave ±MAX.
--
-- Spec: docs/SPEC.md §8 (Interpreter), "Bounds at bind". Mirrors
-- genvm_policy/bounds.py. `interpreter.bind` calls `prove` last.
--
-- Rules:
-- 1. Every scorer (the `score` slot and each `weighted` selector's scorer) gets
--    an interval over this catalog's routes and every request, as admission's
--    analysis (§7.4) but with each field's hull of the catalog's values.
-- 2. `scale`, `sum` and `normalize` whose values can leave ±MAX are
--    `POL_BOUND` at their path; arguments are proved first (post-order). Every
--    check is made before the product or sum it guards, so nothing wraps.
-- 3. `weighted S` needs `routes × max(hi, 0) ≤ MAX`, else `POL_BOUND` at it.
-- 4. Order: `score`, then `select` in pre-order.

local errors = require("genvm_policy.errors")
local numeric = require("genvm_policy.numeric")

local M = {}

local MAX, decimal_units = numeric.MAX, numeric.decimal_units

local function at(path, ...)
  local out = { table.unpack(path) }
  for _, seg in ipairs({ ... }) do
    out[#out + 1] = seg
  end
  return out
end

local function too_big(path)
  errors.raise("POL_BOUND", path, "this scorer can leave ±(2^53 − 1) for this catalog's values",
    "scale it down, or lower the catalog values it reads")
end

-- |x| for x within ±MAX (never the wrapping minimum).
local function abs(x)
  return x < 0 and -x or x
end

local scorer

local function sum_span(term, path, hull, scales)
  local lo, hi, size = 0, 0, 0
  for n = 2, #term do
    local a, b = scorer(term[n], at(path, n - 1), hull, scales)
    local m = abs(a) > abs(b) and abs(a) or abs(b)
    if size > MAX - m then too_big(path) end
    size, lo, hi = size + m, lo + a, hi + b
  end
  return lo, hi
end

scorer = function(term, path, hull, scales)
  local op = term[1]
  if op == "const" then
    return term[2], term[2]
  elseif op == "field" then
    local default = decimal_units(term[3], scales[term[2]], at(path, 2))
    local lo, hi, missing = hull(term[2])
    if lo == nil then return default, default end
    if missing then
      return math.min(lo, default), math.max(hi, default)
    end
    return lo, hi
  elseif op == "route_value" then
    local lo, hi = term[3], term[3]
    for k = 1, #term[2] do
      local v = term[2][k][3]
      if v < lo then lo = v end
      if v > hi then hi = v end
    end
    return lo, hi
  elseif op == "neg" then
    local lo, hi = scorer(term[2], at(path, 1), hull, scales)
    return -hi, -lo
  elseif op == "scale" then
    local k, d = term[2], term[3]
    local lo, hi = scorer(term[4], at(path, 3), hull, scales)
    local m = abs(lo) > abs(hi) and abs(lo) or abs(hi)
    if k ~= 0 and m > MAX // abs(k) then too_big(path) end
    local x, y = k * lo, k * hi
    if x > y then x, y = y, x end
    return x // d, y // d
  elseif op == "sum" then
    return sum_span(term, path, hull, scales)
  elseif op == "min" or op == "max" then
    local pick = op == "min" and math.min or math.max
    local lo, hi
    for n = 2, #term do
      local a, b = scorer(term[n], at(path, n - 1), hull, scales)
      lo = lo == nil and a or pick(lo, a)
      hi = hi == nil and b or pick(hi, b)
    end
    return lo, hi
  elseif op == "gate" then
    local lo, hi = scorer(term[3], at(path, 2), hull, scales)
    return math.min(lo, 0), math.max(hi, 0)
  end
  local r = term[2] -- "normalize", the last scorer op
  local lo, hi = scorer(term[3], at(path, 2), hull, scales)
  -- hi − lo is at most 2·MAX, far inside the 64-bit range.
  if hi - lo > MAX // r then too_big(path) end
  return 0, r
end

local function selector(term, path, hull, scales, routes)
  local op = term[1]
  if op == "top_k" then
    selector(term[3], at(path, 2), hull, scales, routes)
  elseif op == "tiers" then
    for j = 1, #term[2] do
      selector(term[2][j][2], at(path, 1, j - 1, 1), hull, scales, routes)
    end
  elseif op == "weighted" then
    local _, hi = scorer(term[2], at(path, 1), hull, scales)
    local n = routes > 1 and routes or 1
    if hi > 0 and hi > MAX // n then
      errors.raise("POL_BOUND", path, "the weights can reach `" .. hi .. "` on each of this "
        .. "catalog's " .. routes .. " routes, so their sum can leave ±(2^53 − 1)",
        "keep every weight at most " .. MAX // n .. " (scale the weight down)")
    end
  end
end

--- Raise `POL_BOUND` at the first term whose values can leave ±MAX (rules 1–4).
--- `hull(name)` gives (lowest, highest, some route lacks it), or nil when no
--- route has the field.
function M.prove(policy, hull, scales, routes)
  scorer(policy.score, { "score" }, hull, scales)
  selector(policy.select, { "select" }, hull, scales, routes)
end

return M
