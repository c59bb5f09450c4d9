--- The interpreter: bind a policy to a catalog, and score over the bound catalog.
--
-- Spec: docs/SPEC.md §8 (Interpreter): binding and §8.2. Mirrors
-- genvm_policy/interpreter.py. Predicates and the filter (§8.1) are
-- `genvm_policy.predicate`; select (§8.3) is `genvm_policy.selection`, which
-- calls `score` from here; mutate (§8.4) is `genvm_policy.mutate`.
--
-- Rules:
-- 1. Routes are ranked once by (provider bytes, model bytes): the catalog's
--    array order (catalog.lua rule 2), rank = index − 1. That rank is the
--    tie-break of every order, and every sort key is an integer pair
--    compared by a total comparator: no string `<`, no host call inside.
-- 2. Score (§8.2): checked integer arithmetic over the surviving population;
--    `normalize` maps `v` to `(v − lo) × R // (hi − lo)`, or `R` when `hi = lo`.
-- 3. `bind` checks the policy against the catalog before anything runs:
--    declared fields (`POL_FIELD`), constants exact at their field's scale
--    (`NUM_INEXACT`, `NUM_RANGE`), declared `tier_at_least` tiers
--    (`POL_TIER`), in pre-order (filter, score, select, each mutation;
--    arguments left to right), at the path in the policy value.
-- 4. Last, `bind` proves over this catalog's values that no scorer and no
--    `weighted` sum can leave ±MAX (`genvm_policy.bounds`, `POL_BOUND`).
--
-- Populations are arrays of ranks (0-based integers); a bound catalog keeps
-- each route's numeric fields in `values[rank + 1]`. `bind` is cached per
-- (catalog, policy) pair, so a decision does no per-route setup.

local bounds = require("genvm_policy.bounds")
local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local numeric = require("genvm_policy.numeric")
local policy_mod = require("genvm_policy.policy")
local predicate_mod = require("genvm_policy.predicate")

local M = {}

local add, sub, mul, neg, floordiv = numeric.add, numeric.sub, numeric.mul, numeric.neg,
  numeric.floordiv
local MAX, decimal_units = numeric.MAX, numeric.decimal_units
local predicate, spend = predicate_mod.predicate, predicate_mod.spend
local BUILTIN_FIELDS = policy_mod.BUILTIN_FIELDS
local sort = table.sort

local function at(path, ...)
  local out = { table.unpack(path) }
  for _, seg in ipairs({ ... }) do
    out[#out + 1] = seg
  end
  return out
end

local NAMES_FIELD = { has = true, field = true, lt = true, le = true, eq = true, ge = true,
  gt = true }

-- Fail on the first field, tier or constant this catalog cannot serve (rule 3);
-- else the set of fields the policy reads: those its field ops name, met in the
-- same walk (a name list or route that only looks like such a term reads none).
local function check_names(policy, scales, tier_rank)
  local stack, found = {}, {}
  for k = #policy.mutate, 1, -1 do
    stack[#stack + 1] = { { "mutate", k - 1 }, policy.mutate[k] }
  end
  stack[#stack + 1] = { { "select" }, policy.select }
  stack[#stack + 1] = { { "score" }, policy.score }
  stack[#stack + 1] = { { "filter" }, policy.filter }
  while #stack > 0 do
    local path, term = stack[#stack][1], stack[#stack][2]
    stack[#stack] = nil
    local op = term[1]
    if NAMES_FIELD[op] then
      local scale = scales[term[2]]
      if scale == nil then
        errors.raise("POL_FIELD", at(path, 1), "the catalog declares no field `" .. term[2]
          .. "`", "declare the field in the overlay or admit the policy with its catalog")
      end
      found[term[2]] = true
      if op ~= "has" then
        decimal_units(term[3], scale, at(path, 2))
      end
    elseif op == "tier_at_least" and tier_rank[term[2]] == nil then
      errors.raise("POL_TIER", at(path, 1), "the catalog declares no tier `" .. term[2] .. "`",
        "declare the tier in the overlay or admit the policy with its catalog")
    end
    -- Push the child terms last to first, so they pop in argument order.
    local kinds = policy_mod.OPS[op][2]
    for n = #term - 1, 1, -1 do
      local kind = kinds[math.min(n, #kinds)]:gsub("%*$", "")
      if kind == "P" or kind == "S" or kind == "L" or kind == "M" then
        stack[#stack + 1] = { at(path, n), term[n + 1] }
      elseif kind == "tiers" then
        local rows = term[n + 1]
        for j = #rows, 1, -1 do
          stack[#stack + 1] = { at(path, n, j - 1, 1), rows[j][2] }
          stack[#stack + 1] = { at(path, n, j - 1, 0), rows[j][1] }
        end
      end
    end
  end
  return found
end

-- Field name -> (lowest, highest, some route lacks it) over `values`, nil when no
-- route has it: the hulls `bounds.prove` reads (rule 4), each made on first use.
local function field_hull(values)
  local hulls = {}
  return function(name)
    local h = hulls[name]
    if h == nil then
      local lo, hi, missing = nil, nil, false
      for r = 1, #values do
        local v = values[r][name]
        if v == nil then
          missing = true
        else
          if lo == nil or v < lo then lo = v end
          if hi == nil or v > hi then hi = v end
        end
      end
      h = { lo, hi, missing }
      hulls[name] = h
    end
    return h[1], h[2], h[3]
  end
end

--- Bind `policy` to `catalog` (rule 1): read each route's numeric fields once.
--- Raises `POL_FIELD`, `POL_TIER`, `NUM_INEXACT` (rule 3) and `NUM_RANGE`, for
--- a constant or a built-in field the policy reads outside its bounds, then
--- `POL_BOUND` (rule 4).
function M.bind(catalog, policy)
  local cache = catalog.bound
  if not cache then
    cache = setmetatable({}, { __mode = "k" })
    catalog.bound = cache
  end
  if cache[policy] then
    return cache[policy]
  end
  local scales = {}
  for name, decl in pairs(BUILTIN_FIELDS) do  -- order-free: copies a map
    scales[name] = decl[1]
  end
  for i = 1, #catalog.fields do
    scales[catalog.fields[i].name] = catalog.fields[i].scale
  end
  local used, read = {}, check_names(policy, scales, catalog.tier_rank)
  for name in pairs(read) do  -- order-free: sorted below
    used[#used + 1] = name
  end
  sort(used, encoding.bytes_less)
  local routes, values = catalog.routes, {}
  for r = 1, #routes do
    local route, row = routes[r], {}
    for k = 1, #used do
      local name = used[k]
      local decl = BUILTIN_FIELDS[name]
      local value
      if decl then
        value = route[name]
        if value ~= nil and (value < decl[2] or value > decl[3]) then
          errors.raise("NUM_RANGE", { "routes", route.provider, route.model, name },
            "`" .. name .. "` is `" .. value .. "`, outside the policy language's "
            .. decl[2] .. " … " .. decl[3], "bring the node's `" .. name .. "` into that range, "
            .. "or leave `" .. name .. "` out of the policy (the field table of the spec, section 7)")
        end
      else
        value = route.fields[name]
      end
      row[name] = value
    end
    values[r] = row
  end
  bounds.prove(policy, field_hull(values), scales, #routes)
  local b = { policy = policy, routes = routes, values = values, scales = scales,
    tier_rank = catalog.tier_rank, preds = {}, tabs = {}, positions = {},
    columns = {}, tables_left = predicate_mod.TABLES, tabulating = false }
  cache[policy] = b
  return b
end

-- -- score (§8.2) ------------------------------------------------------------

local score

-- The column checks of §8.2: every value a scorer yields lies within ±MAX (a
-- field, a constant, or a checked result), so an operation whose result is in
-- range cannot have raised, and one that is not reruns the checked operation
-- of §1.2, which raises the specified error for that element.
local function sum_columns(op, out, col, n)
  if op == "sum" then
    for k = 1, n do
      local x, y = out[k], col[k]
      local v = x + y
      if v > MAX or v < -MAX then v = add(x, y) end
      out[k] = v
    end
  elseif op == "min" then
    for k = 1, n do
      if col[k] < out[k] then out[k] = col[k] end
    end
  else
    for k = 1, n do
      if col[k] > out[k] then out[k] = col[k] end
    end
  end
end

local function scale_column(out, by, d, n)
  local fast = d ~= 0 and by >= -MAX and by <= MAX and d >= -MAX and d <= MAX
  local lim = by == 0 and MAX or MAX // (by < 0 and -by or by)
  for k = 1, n do
    local x = out[k]
    if fast and x <= lim and x >= -lim then
      -- |x · by| ≤ MAX and |d| ≥ 1, so the quotient is in range too.
      out[k] = x * by // d
    else
      out[k] = floordiv(mul(x, by), d)
    end
  end
end

local function normalize_column(out, to, n)
  if n == 0 then
    return out
  end
  local lo, hi = out[1], out[1]
  for k = 2, n do
    local v = out[k]
    if v < lo then lo = v elseif v > hi then hi = v end
  end
  if hi == lo then
    for k = 1, n do out[k] = to end
    return out
  end
  -- 0 ≤ v − lo ≤ hi − lo for every v: when (hi − lo) × R is in range, so is each
  -- step, and the checked loop below could not raise; it runs only when one may.
  local span = hi - lo
  if span <= MAX and (to == 0 or span <= MAX // (to < 0 and -to or to)) then
    for k = 1, n do out[k] = (out[k] - lo) * to // span end
  else
    for k = 1, n do
      out[k] = floordiv(mul(sub(out[k], lo), to), sub(hi, lo))
    end
  end
  return out
end

-- The column of `term` over `pop`, evaluated op by op (§8.2).
local function evaluate(term, b, pop, req)
  local op, n = term[1], #pop
  if op == "const" then
    local out, c = {}, term[2]
    for k = 1, n do out[k] = c end
    return out
  elseif op == "field" then
    -- `bind` checked that the catalog declares the field.
    local out, name, values = {}, term[2], b.values
    local default = decimal_units(term[3], b.scales[name])
    for k = 1, n do
      local value = values[pop[k] + 1][name]
      if value == nil then value = default end
      out[k] = value
    end
    return out
  elseif op == "route_value" then
    local out, rows, fallback, routes = {}, term[2], term[3], b.routes
    for k = 1, n do
      local route = routes[pop[k] + 1]
      out[k] = fallback
      for r = 1, #rows do
        if rows[r][1] == route.provider and rows[r][2] == route.model then
          out[k] = rows[r][3]
          break
        end
      end
    end
    return out
  elseif op == "neg" then
    local out = score(term[2], b, pop, req)
    for k = 1, n do
      local x = out[k]
      if x > MAX or x < -MAX then x = -neg(x) end -- raises: the range is symmetric
      out[k] = -x
    end
    return out
  elseif op == "scale" then
    local out = score(term[4], b, pop, req)
    scale_column(out, term[2], term[3], n)
    return out
  elseif op == "sum" or op == "min" or op == "max" then
    local out = score(term[2], b, pop, req)
    for c = 3, #term do
      sum_columns(op, out, score(term[c], b, pop, req), n)
    end
    return out
  elseif op == "gate" then
    local out = score(term[3], b, pop, req)
    local f, flags = predicate(term[2], b, req)
    for k = 1, n do
      local i, ok = pop[k], nil
      if flags then ok = flags[i + 1] else ok = f(i, req) end
      if not ok then out[k] = 0 end
    end
    return out
  end
  return normalize_column(score(term[3], b, pop, req), term[2], n) -- "normalize"
end

-- Whether scorer `term` is a function of the route alone: no `normalize` (it
-- reads the population) and no `gate` whose predicate reads the request.
local function route_only(term, b, req)
  local op = term[1]
  if op == "const" or op == "field" or op == "route_value" then
    return true
  elseif op == "neg" then
    return route_only(term[2], b, req)
  elseif op == "scale" then
    return route_only(term[4], b, req)
  elseif op == "sum" or op == "min" or op == "max" then
    for c = 2, #term do
      if not route_only(term[c], b, req) then return false end
    end
    return true
  elseif op == "gate" then
    return predicate_mod.route_only(term[2], b, req) and route_only(term[3], b, req)
  end
  return false -- "normalize"
end

-- The values of a route-only scorer for every rank (`col[i + 1]`), made once
-- per bound policy, so a decision gathers its survivors' values instead of
-- running each op over them. False for any other scorer, and for one whose
-- checked arithmetic raises for some route: each population then evaluates
-- it, and raises exactly where §8.2 says. A route-only value does not depend
-- on the population, so a gathered column equals an evaluated one.
local function scorer_column(term, b, req)
  local col = b.columns[term]
  if col == nil and not b.tabulating then
    col = false
    -- A constant is cheaper to repeat than to gather. The children of a
    -- tabulated scorer are evaluated, not tabulated: one table per scorer.
    if term[1] ~= "const" and route_only(term, b, req) and spend(b, 1) then
      local every = {}
      for r = 1, #b.routes do every[r] = r - 1 end
      b.tabulating = true
      local ok, values = pcall(evaluate, term, b, every, req)
      b.tabulating = false
      col = ok and values
    end
    b.columns[term] = col
  end
  return col
end

--- The value of scorer `term` for each rank of `pop`, in `pop` order (rule 2).
function score(term, b, pop, req)
  local col = scorer_column(term, b, req)
  if not col then
    return evaluate(term, b, pop, req)
  end
  local out = {}
  for k = 1, #pop do out[k] = col[pop[k] + 1] end
  return out
end
M.score = score

return M
