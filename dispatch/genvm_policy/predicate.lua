--- Predicates and the filter: §8.1 compiled once per bound policy.
--
-- Spec: docs/SPEC.md §8.1 (Filter); tabulation: docs/IMPLEMENTATION.md §4. Mirrors
-- genvm_policy/predicate.py; `genvm_policy.interpreter` binds the policy and
-- scores, `genvm_policy.selection` selects, and both ask predicates here.
--
-- Rules:
-- 1. A rejected route's reason is the first child of the top-level `all` that
--    fails (or the whole filter). A missing field value fails every comparison.
-- 2. A predicate of the route and the request's `needs_json`/`needs_image` is
--    tabulated per bound policy for each of the four request shapes; one that
--    reads another request fact, or may raise `POL_TIER` (a route's tier the
--    catalog does not declare), stays a closure, evaluated where the rule
--    reaches it. The results are those of evaluating every route, term by term.
-- 3. A bound policy keeps at most `TABLES` route-sized tables; past them a
--    predicate is a closure again, with the same results.

local errors = require("genvm_policy.errors")
local numeric = require("genvm_policy.numeric")

local M = {}

local decimal_units = numeric.decimal_units

-- -- filter (§8.1) -----------------------------------------------------------

local function tier(b, name)
  local rank = b.tier_rank[name]
  if rank == nil then
    errors.raise("POL_TIER", {}, "the catalog declares no tier `" .. name .. "`",
      "declare the tier in the overlay or admit the policy with its catalog")
  end
  return rank
end

local function contains(list, x)
  for k = 1, #list do
    if list[k] == x then
      return true
    end
  end
  return false
end

-- A predicate compiles once per bound policy into `f(i, req)`. One that reads
-- only the route and the request's `needs_json`/`needs_image` is also
-- tabulated: `tabs[shape][i + 1]` for each of the four request shapes, so a
-- decision reads a table instead of calling a function per route. The rest
-- (`format_in`, `entry_in`, `role_in`, `request`, `fits_context`, `has_images`,
-- and `tier_at_least` over an
-- undeclared tier, which must raise where the rule first reaches it) stay
-- closures.
local compile

--- The request's shape, 1 … 4: which of `needs_json`, `needs_image` it sets.
local function shape(req)
  return (req.needs_json and 2 or 0) + (req.needs_image and 1 or 0) + 1
end

local function reader(tabs)
  return function(i, req) return tabs[shape(req)][i + 1] end, tabs
end

-- Route-sized tables one bound policy may keep (predicate tables, scorer
-- columns): about 10 MB at 10,000 routes. Past it, what would be tabulated is
-- evaluated per decision instead, with the same results; the largest
-- admissible policy thus keeps its memory within the bound of RELIABILITY §7.
M.TABLES = 64

--- Take `k` route-sized tables from the bound policy's allowance (predicate
--- tables and scorer columns share it); false, taking none, when it has fewer.
local function spend(b, k)
  if b.tables_left < k then
    return false
  end
  b.tables_left = b.tables_left - k
  return true
end
M.spend = spend

-- Tables of a predicate of the route alone: one table for every shape.
local function tabulate(b, test)
  local routes, flags = b.routes, {}
  if not spend(b, 1) then
    return function(i) return not not test(routes[i + 1], i) end
  end
  for r = 1, #routes do
    flags[r] = not not test(routes[r], r - 1)
  end
  return reader({ flags, flags, flags, flags })
end

-- The tables of `combine(kids, shape, r)` over tabulated children. Unless
-- `by_shape` (the combination reads the shape itself), a shape whose children's
-- tables are those of the shape before reuses its table.
local function tabulate_over(b, kids, combine, by_shape)
  local n, tabs, same, fresh = #b.routes, {}, {}, 0
  for s = 1, 4 do
    same[s] = s > 1 and not by_shape
    for k = 1, #kids do
      same[s] = same[s] and kids[k][s] == kids[k][s - 1]
    end
    if not same[s] then fresh = fresh + 1 end
  end
  if not spend(b, fresh) then
    return function(i, req) return combine(kids, shape(req), i + 1) end
  end
  for s = 1, 4 do
    if same[s] then
      tabs[s] = tabs[s - 1]
    else
      local flags = {}
      for r = 1, n do
        flags[r] = combine(kids, s, r)
      end
      tabs[s] = flags
    end
  end
  return reader(tabs)
end

local function member_test(list, key)
  return function(route) return route[key] ~= nil and contains(list, route[key]) end
end

local COMPARES = {
  lt = function(v, c) return v < c end,
  le = function(v, c) return v <= c end,
  eq = function(v, c) return v == c end,
  ge = function(v, c) return v >= c end,
  gt = function(v, c) return v > c end,
}

-- `all` (want false) or `any` (want true): the first child equal to `want` decides.
local function compile_junction(term, b)
  local want, fns, kids, n, static = term[1] == "any", {}, {}, #term - 1, true
  for k = 1, n do
    fns[k], kids[k] = compile(term[k + 1], b)
    static = static and kids[k] ~= nil
  end
  if static then
    return tabulate_over(b, kids, function(tabs, s, r)
      for k = 1, n do
        if tabs[k][s][r] == want then return want end
      end
      return not want
    end)
  end
  return function(i, req)
    for k = 1, n do
      if not not fns[k](i, req) == want then return want end
    end
    return not want
  end
end

-- `term` as `f(i, req)` and, when it is tabulated, its tables.
function compile(term, b)
  local op, values = term[1], b.values
  if op == "true" or op == "false" then
    local value = op == "true"
    return tabulate(b, function() return value end)
  elseif op == "json" or op == "image" or op == "has_tee" or op == "no_log" then
    return tabulate(b, function(route) return route[op] end)
  elseif op == "provider_in" or op == "model_in" or op == "family_in" then
    return tabulate(b, member_test(term[2], op:sub(1, -4)))
  elseif op == "route_in" then
    local rows = term[2]
    return tabulate(b, function(route)
      for k = 1, #rows do
        if rows[k][1] == route.provider and rows[k][2] == route.model then return true end
      end
      return false
    end)
  elseif op == "has" then
    local name = term[2]
    return tabulate(b, function(_, i) return values[i + 1][name] ~= nil end)
  elseif COMPARES[op] then
    -- `bind` proved the constant exact at the field's scale: this cannot raise.
    local name, compare = term[2], COMPARES[op]
    local c = decimal_units(term[3], b.scales[name])
    return tabulate(b, function(_, i)
      local value = values[i + 1][name]
      return value ~= nil and compare(value, c)
    end)
  elseif op == "tier_at_least" then
    local rank, least, routes = b.tier_rank, term[2], b.routes
    local known = rank[least] ~= nil
    for r = 1, #routes do
      known = known and (routes[r].tier == nil or rank[routes[r].tier] ~= nil)
    end
    if known then
      return tabulate(b, function(route)
        return route.tier ~= nil and rank[route.tier] >= rank[least]
      end)
    end
    return function(i)
      local name = routes[i + 1].tier
      return name ~= nil and tier(b, name) >= tier(b, least)
    end
  elseif op == "needs" then
    -- Shapes 3 and 4 need JSON, shapes 2 and 4 an image (see `shape`).
    local routes = b.routes
    return tabulate_over(b, {}, function(_, s, r)
      return (s < 3 or not not routes[r].json) and (s % 2 == 1 or not not routes[r].image)
    end, true)
  elseif op == "format_in" or op == "entry_in" or op == "role_in" then
    local list, fact = term[2], op:sub(1, -4)
    return function(_, req) return contains(list, req[fact]) end
  elseif op == "tier_in" then
    return tabulate(b, member_test(term[2], "tier"))
  elseif op == "request" then
    local compare, fact, c = COMPARES[term[2]], term[3], term[4]
    return function(_, req) return compare(req[fact], c) end
  elseif op == "fits_context" then
    -- ⌈prompt_bytes ÷ bytes_per_token⌉ + max_tokens + reserve < 2^35: no bound to check.
    local per, reserve, routes = term[2], term[3], b.routes
    return function(i, req)
      local context = routes[i + 1].context
      return context ~= nil and context >= (req.prompt_bytes + per - 1) // per + req.max_tokens
        + reserve
    end
  elseif op == "has_images" then
    return function(_, req) return req.images > 0 end
  elseif op == "all" or op == "any" then
    return compile_junction(term, b)
  end
  local f, tabs = compile(term[2], b) -- "not", the last predicate op
  if tabs then
    return tabulate_over(b, { tabs }, function(kids, s, r) return not kids[1][s][r] end)
  end
  return function(i, req) return not f(i, req) end
end

--- Predicate `term` of the bound policy as `f(i, req)`, compiled once per term,
--- and its flags for the shape of `req` (`flags[i + 1]`) when it is tabulated.
local function predicate(term, b, req)
  local f = b.preds[term]
  if f == nil then
    local tabs
    f, tabs = compile(term, b)
    b.preds[term], b.tabs[term] = f, tabs
  end
  local tabs = b.tabs[term]
  return f, tabs and tabs[shape(req)]
end
M.predicate = predicate

--- Whether predicate `term` reads the route alone: tabulated, one table for
--- every request shape (a scorer's `gate` over it is then a route's value too).
function M.route_only(term, b, req)
  predicate(term, b, req)
  local tabs = b.tabs[term]
  return tabs ~= nil and tabs[1] == tabs[2] and tabs[1] == tabs[3] and tabs[1] == tabs[4]
end

--- Whether predicate `term` holds for route rank `i` under request `req`.
local function holds(term, b, i, req)
  return predicate(term, b, req)(i, req)
end
M.holds = holds

-- The filter's parts and, per request shape and rank, the first tabulated part
-- that fails (`m + 1` when none does), made once per bound policy and shape: a
-- decision then evaluates only the parts that are closures, and only those
-- before that first failure.
local function filter_plan(b, req)
  local plan = b.filter_plan
  if not plan then
    local top = b.policy.filter
    local parts = top[1] == "all" and { table.unpack(top, 2) } or { top }
    local dynamic, fns = {}, {}
    for k = 1, #parts do
      local f = predicate(parts[k], b, req)
      if not b.tabs[parts[k]] then
        dynamic[#dynamic + 1], fns[#dynamic + 1] = k, f
      end
    end
    plan = { parts = parts, dynamic = dynamic, fns = fns, first = {}, split = {} }
    b.filter_plan = plan
  end
  local s = shape(req)
  if not plan.first[s] then
    local parts, first = plan.parts, {}
    for r = 1, #b.routes do
      local k = 1
      while k <= #parts and (b.tabs[parts[k]] == nil or b.tabs[parts[k]][s][r]) do
        k = k + 1
      end
      first[r] = k
    end
    plan.first[s] = first
  end
  return plan, plan.first[s]
end

--- Split route ranks into survivors and `{rank, first failing predicate}` (rule 1).
function M.filter_routes(b, req)
  local plan, first = filter_plan(b, req)
  local parts, dynamic, fns = plan.parts, plan.dynamic, plan.fns
  local m = #parts
  if #dynamic == 0 then
    -- Every part is tabulated: the split depends on the request's shape alone,
    -- so it is made once per shape and each decision gets its own copies (the
    -- `{rank, part}` pairs inside are never changed, so they are shared).
    local s = shape(req)
    local split = plan.split[s]
    if not split then
      split = { {}, {} }
      for i = 0, #b.routes - 1 do
        local failing = first[i + 1]
        if failing > m then
          split[1][#split[1] + 1] = i
        else
          split[2][#split[2] + 1] = { i, parts[failing] }
        end
      end
      plan.split[s] = split
    end
    return table.move(split[1], 1, #split[1], 1, {}), table.move(split[2], 1, #split[2], 1, {})
  end
  local survivors, rejected, kept, dropped = {}, {}, 0, 0
  for i = 0, #b.routes - 1 do
    local failing = first[i + 1]
    for d = 1, #dynamic do
      local k = dynamic[d]
      if k >= failing then break end
      if not fns[d](i, req) then
        failing = k
        break
      end
    end
    if failing > m then
      kept = kept + 1
      survivors[kept] = i
    else
      dropped = dropped + 1
      rejected[dropped] = { i, parts[failing] }
    end
  end
  return survivors, rejected
end

return M
