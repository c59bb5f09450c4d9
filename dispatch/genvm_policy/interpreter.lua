--- The interpreter: bind a policy to a catalog, and score over the bound catalog.
--
-- Spec: docs/SPEC.md §8 (Interpreter): binding and §8.2. Mirrors
-- genvm_policy/core/interpreter.py. Filter (§8.1) is its own module,
-- `genvm_policy.predicate`, which this one calls for `gate`; select (§8.3) is
-- `genvm_policy.selection`, which calls `score` here; mutate (§8.4) is
-- `genvm_policy.mutate`.
--
-- Rules:
-- 1. Routes are ranked once by (provider bytes, model bytes): the catalog's
--    array order (catalog.lua rule 2), rank = index − 1. That rank is the
--    tie-break of every order, so no order depends on input order, hash order
--    or sort stability.
-- 2. Score (§8.2): scorers are evaluated over the whole surviving population at
--    once with checked integer arithmetic; `normalize` maps `v` to
--    `(v − lo) × R // (hi − lo)` over the population's `[lo, hi]`, and to `R`
--    when `hi = lo` (one route, or all equal).
-- 3. `bind` checks the policy against the catalog before anything runs: every
--    field a term names is declared (`POL_FIELD`), every constant compared with
--    or defaulting a field is exact at its scale (`NUM_INEXACT`, `NUM_RANGE`),
--    every `tier_at_least` tier is declared (`POL_TIER`). Terms are visited in
--    pre-order (filter, score, select, then each mutation; arguments left to
--    right); the first failure is raised at its path in the policy value.
-- 4. Last, `bind` proves over this catalog's values that no scorer and no
--    `weighted` sum can leave ±MAX (`genvm_policy.bounds`, `POL_BOUND`), so a
--    bound policy's decisions cannot fail on arithmetic.
--
-- Populations are arrays of ranks (0-based integers). A bound policy is
-- `{policy, routes, columns, scales, tier_rank, tiers_declared, preds}`:
-- `columns[name][rank + 1]` is field `name` of each route (nil when it has
-- none), `preds` the sieves `predicate` built. `genvm_policy.tabulate` binds
-- each (catalog, policy) pair once and keeps route-only scorers' values
-- (docs/IMPLEMENTATION.md §4).

local bounds = require("genvm_policy.bounds")
local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local numeric = require("genvm_policy.numeric")
local policy_mod = require("genvm_policy.policy")
local predicate_mod = require("genvm_policy.predicate")
local tabulate = require("genvm_policy.tabulate")

local M = {}

local add, sub, mul, neg, floordiv = numeric.add, numeric.sub, numeric.mul, numeric.neg,
  numeric.floordiv
local MAX, decimal_units = numeric.MAX, numeric.decimal_units
local predicate = predicate_mod.predicate
local BUILTIN_FIELDS, OPS = policy_mod.BUILTIN_FIELDS, policy_mod.OPS

local function at(path, ...)
  local out = { table.unpack(path) }
  for _, seg in ipairs({ ... }) do
    out[#out + 1] = seg
  end
  return out
end

-- The ops that name a field: `has`, `field` and the comparisons.
local NAMED = { has = true, field = true }
for op in pairs(predicate_mod.COMPARE) do  -- order-free: builds a set
  NAMED[op] = true
end

-- Check `term`, then its arguments left to right (pre-order); add to `found`
-- the fields it names.
local function visit(term, path, scales, tiers, found)
  local op = term[1]
  if NAMED[op] then
    if scales[term[2]] == nil then
      errors.raise("POL_FIELD", at(path, 1), "the catalog declares no field `" .. term[2]
        .. "`", "declare the field in the overlay or admit the policy with its catalog")
    end
    found[term[2]] = true
    if op ~= "has" then
      decimal_units(term[3], scales[term[2]], at(path, 2))
    end
  elseif op == "tier_at_least" and tiers[term[2]] == nil then
    errors.raise("POL_TIER", at(path, 1), "the catalog declares no tier `" .. term[2] .. "`",
      "declare the tier in the overlay or admit the policy with its catalog")
  end
  -- How to walk the arguments, the last kind repeating (policy.OPS): "P", "S",
  -- "L", "M" a term, "tiers" rows of [P, L]; any other kind is data.
  local kinds = OPS[op][2]
  for n = 1, #term - 1 do
    local kind, arg = kinds[math.min(n, #kinds)]:gsub("%*$", ""), term[n + 1]
    if kind == "P" or kind == "S" or kind == "L" or kind == "M" then
      visit(arg, at(path, n), scales, tiers, found)
    elseif kind == "tiers" then
      for j = 1, #arg do
        visit(arg[j][1], at(path, n, j - 1, 0), scales, tiers, found)
        visit(arg[j][2], at(path, n, j - 1, 1), scales, tiers, found)
      end
    end
  end
end

-- Check every term this catalog must serve (rule 3); the set of field names the
-- policy reads: those its field ops name, met in the same walk (a name list or
-- route that only looks like such a term reads none).
local function analyse(policy, scales, tiers)
  local found = {}
  visit(policy.filter, { "filter" }, scales, tiers, found)
  visit(policy.score, { "score" }, scales, tiers, found)
  visit(policy.select, { "select" }, scales, tiers, found)
  for k = 1, #policy.mutate do
    visit(policy.mutate[k], { "mutate", k - 1 }, scales, tiers, found)
  end
  return found
end

-- Field `name` of every route by rank + 1 (nil where a route has none).
local function column_of(routes, name)
  local column = {}
  if BUILTIN_FIELDS[name] then
    for r = 1, #routes do column[r] = routes[r][name] end
  else
    for r = 1, #routes do column[r] = routes[r].fields[name] end
  end
  return column
end

-- (lowest, highest, some route lacks it) of field `name` over `columns`, nil
-- when no route has it: the hulls `bounds.prove` reads (rule 4).
local function hull_of(columns, n)
  return function(name)
    local column, lo, hi, missing = columns[name], nil, nil, false
    for r = 1, n do
      local v = column[r]
      if v == nil then
        missing = true
      else
        if lo == nil or v < lo then lo = v end
        if hi == nil or v > hi then hi = v end
      end
    end
    return lo, hi, missing
  end
end

local function tiers_declared(routes, tiers)
  for r = 1, #routes do
    local name = routes[r].tier
    if name ~= nil and tiers[name] == nil then return false end
  end
  return true
end

-- Rank the catalog's routes (rule 1), check the policy (rule 3), read its fields once.
local function bind(catalog, policy)
  local routes, scales = catalog.routes, {}
  for name, decl in pairs(BUILTIN_FIELDS) do  -- order-free: copies a map
    scales[name] = decl[1]
  end
  for i = 1, #catalog.fields do
    scales[catalog.fields[i].name] = catalog.fields[i].scale
  end
  local tiers, names = catalog.tier_rank, {}
  for name in pairs(analyse(policy, scales, tiers)) do  -- order-free: sorted below
    names[#names + 1] = name
  end
  table.sort(names, encoding.bytes_less)
  local columns, bad, bad_name = {}, nil, nil
  for k = 1, #names do
    local name = names[k]
    local column, decl = column_of(routes, name), BUILTIN_FIELDS[name]
    columns[name] = column
    -- The first (rank, name) outside a built-in field's bounds.
    for r = 1, decl and #routes or 0 do
      local v = column[r]
      if v ~= nil and (v < decl[2] or v > decl[3]) then
        if bad == nil or r < bad then bad, bad_name = r, name end
        break
      end
    end
  end
  if bad ~= nil then
    local route, name, decl = routes[bad], bad_name, BUILTIN_FIELDS[bad_name]
    errors.raise("NUM_RANGE", { "routes", route.provider, route.model, name },
      "`" .. name .. "` is `" .. route[name] .. "`, outside the policy language's "
      .. decl[2] .. " … " .. decl[3], "bring the node's `" .. name .. "` into that range, "
      .. "or leave `" .. name .. "` out of the policy (the field table of the spec, section 7)")
  end
  bounds.prove(policy, hull_of(columns, #routes), scales, #routes)
  return { policy = policy, routes = routes, columns = columns, scales = scales,
    tier_rank = tiers, tiers_declared = tiers_declared(routes, tiers), preds = {} }
end

--- Rank the catalog's routes (rule 1), check the policy (rule 3), read its
--- fields once. Raises `POL_FIELD`, `POL_TIER`, `NUM_INEXACT` (rule 3) and
--- `NUM_RANGE`, for a constant or a built-in field the policy reads outside its
--- bounds, then `POL_BOUND` (rule 4).
function M.bind(catalog, policy)
  return tabulate.bind(catalog, policy, bind)
end

-- -- score (§8.2) ------------------------------------------------------------

-- The largest magnitude in `column`, 0 when empty (docs/IMPLEMENTATION.md §2).
-- When an operation's operands and results are proved within ±MAX by it, its
-- checked form cannot raise; else the checked form reruns and raises as specified.
local function span(column)
  local top = 0
  for k = 1, #column do
    local v = column[k]
    if v > top then top = v elseif -v > top then top = -v end
  end
  return top
end

-- Whether `|x| ≤ MAX`; and `|x|` when it is, else nil.
local function magnitude(x)
  if x > MAX or x < -MAX then return nil end
  return x < 0 and -x or x
end

-- The value of scorer `term` for each route of `pop`, in `pop` order (rule 2);
-- its arguments' values are `M.score`'s, as the reference's are `score`'s.
-- Every column `M.score` returns is a fresh array, so an op computes its
-- result in its argument's column.
local function score(term, b, pop, req)
  local op, n = term[1], #pop
  if op == "const" then
    local out, c = {}, term[2]
    for k = 1, n do out[k] = c end
    return out
  elseif op == "field" then
    local default = decimal_units(term[3], b.scales[term[2]])
    local out, column = {}, b.columns[term[2]] -- `bind` read every field a term names
    for k = 1, n do
      local v = column[pop[k] + 1]
      if v == nil then v = default end
      out[k] = v
    end
    return out
  elseif op == "route_value" then
    local table_of, fallback = {}, term[3]
    for r = 1, #term[2] do
      local p, m, v = term[2][r][1], term[2][r][2], term[2][r][3]
      table_of[p] = table_of[p] or {}
      table_of[p][m] = v
    end
    local out, routes = {}, b.routes
    for k = 1, n do
      local route = routes[pop[k] + 1]
      local models = table_of[route.provider]
      local v = models and models[route.model]
      if v == nil then v = fallback end
      out[k] = v
    end
    return out
  elseif op == "neg" then
    local out = M.score(term[2], b, pop, req)
    for k = 1, n do
      local x = out[k]
      -- Checked per element in one pass (the reference checks the column).
      if x > MAX or x < -MAX then out[k] = neg(x) else out[k] = -x end
    end
    return out
  elseif op == "scale" then
    local out, k, d = M.score(term[4], b, pop, req), term[2], term[3]
    local top, by, over = span(out), magnitude(k), magnitude(d)
    if d ~= 0 and top <= MAX and by and over and (by == 0 or top <= MAX // by) then
      -- Every product is at most `top · |k|` in magnitude, and so in range.
      for j = 1, n do out[j] = out[j] * k // d end
    else
      for j = 1, n do out[j] = floordiv(mul(out[j], k), d) end
    end
    return out
  elseif op == "sum" or op == "min" or op == "max" then
    local columns = {}
    for c = 2, #term do columns[c - 1] = M.score(term[c], b, pop, req) end
    local out = columns[1] -- a fresh column, as every `M.score` result is
    if op == "min" then
      for c = 2, #columns do
        local col = columns[c]
        for j = 1, n do
          if col[j] < out[j] then out[j] = col[j] end
        end
      end
      return out
    elseif op == "max" then
      for c = 2, #columns do
        local col = columns[c]
        for j = 1, n do
          if col[j] > out[j] then out[j] = col[j] end
        end
      end
      return out
    end
    for c = 2, #columns do
      local col = columns[c]
      for j = 1, n do
        -- Both terms lie within ±MAX, so their plain sum cannot wrap; one
        -- outside the range reruns the checked sum, which raises for it.
        local x, y = out[j], col[j]
        local v = x + y
        if v > MAX or v < -MAX then v = add(x, y) end
        out[j] = v
      end
    end
    return out
  elseif op == "gate" then
    local out = M.score(term[3], b, pop, req)
    local held = {}
    local kept = predicate(term[2], b)(pop, req)
    for k = 1, #kept do held[kept[k]] = true end
    for k = 1, n do
      if not held[pop[k]] then out[k] = 0 end
    end
    return out
  end
  local out = M.score(term[3], b, pop, req) -- "normalize", the last scorer op
  if n == 0 then
    return out
  end
  local lo, hi = out[1], out[1]
  for k = 2, n do
    local v = out[k]
    if v < lo then lo = v elseif v > hi then hi = v end
  end
  local r = term[2]
  if hi == lo then
    for k = 1, n do out[k] = r end
    return out
  end
  local width, by = hi - lo, magnitude(r)
  if -lo <= MAX and hi <= MAX and by and width <= MAX and (by == 0 or width <= MAX // by) then
    -- |(v − lo) · R| ≤ |(hi − lo) · R| ≤ MAX: no step below can leave the range.
    for k = 1, n do out[k] = (out[k] - lo) * r // width end
  else
    for k = 1, n do out[k] = floordiv(mul(sub(out[k], lo), r), sub(hi, lo)) end
  end
  return out
end

--- The value of scorer `term` for each route of `pop`, in `pop` order (rule 2).
function M.score(term, b, pop, req)
  return tabulate.score(term, b, pop, req, score)
end

return M
