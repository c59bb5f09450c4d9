--- Predicates and the filter: which routes survive, and why the others do not.
--
-- Spec: docs/SPEC.md §8.1 (Filter). Mirrors genvm_policy/core/predicate.py.
-- `genvm_policy.interpreter` binds the policy and scores; it and
-- `genvm_policy.selection` ask predicates here.
--
-- Rules:
-- 1. A route survives when the filter holds; a rejected route's reason is the
--    first child of the top-level `all` that fails (or the whole filter when it
--    is not an `all`). A missing field value fails every comparison.
-- 2. Predicates run as sieves over a population, evaluating for each route the
--    terms a route-by-route evaluation reaches.
--
-- A sieve is `fn(pop, req)`: the ranks of `pop` (in its order) for which the
-- predicate holds; it never changes `pop` and may return it. `genvm_policy.tabulate`
-- keeps the results of the sieves and of the filter that depend on the request's
-- shape alone (docs/IMPLEMENTATION.md §4).

local errors = require("genvm_policy.errors")
local numeric = require("genvm_policy.numeric")
local tabulate = require("genvm_policy.tabulate")

local M = {}

local decimal_units = numeric.decimal_units

--- The comparisons of §8.1 by op name.
local COMPARE = {
  lt = function(v, c) return v < c end,
  le = function(v, c) return v <= c end,
  eq = function(v, c) return v == c end,
  ge = function(v, c) return v >= c end,
  gt = function(v, c) return v > c end,
}
M.COMPARE = COMPARE

local compile

-- The ranks of `pop` whose route passes `test(route)`, in order.
local function keep(routes, pop, test)
  local out, m = {}, 0
  for k = 1, #pop do
    local i = pop[k]
    if test(routes[i + 1]) then
      m = m + 1
      out[m] = i
    end
  end
  return out
end

-- The set of `list`'s items, as a table of keys.
local function set_of(list)
  local out = {}
  for k = 1, #list do out[list[k]] = true end
  return out
end

-- The ranks of `pop` not in `held` (a set of ranks), in order.
local function unheld(pop, held)
  local out, m = {}, 0
  for k = 1, #pop do
    if not held[pop[k]] then
      m = m + 1
      out[m] = pop[k]
    end
  end
  return out
end

-- -- filter (§8.1) -----------------------------------------------------------

local function each(fn)
  return function(pop, req)
    local out, m = {}, 0
    for k = 1, #pop do
      if #fn({ pop[k] }, req) > 0 then
        m = m + 1
        out[m] = pop[k]
      end
    end
    return out
  end
end

--- Predicate `term` as a sieve over route ranks, built once per term of `b.policy`.
local function predicate(term, b)
  local fn = b.preds[term]
  if fn == nil then
    fn = compile(term, b)
    if not b.tiers_declared then
      -- A `tier_at_least` may raise: sieve route by route, so the error is the
      -- first one a route-by-route evaluation meets.
      fn = each(fn)
    end
    fn = tabulate.sieve(term, b, fn)
    b.preds[term] = fn
  end
  return fn
end
M.predicate = predicate

--- Whether predicate `term` holds for route `i` under request `req`.
function M.holds(term, b, i, req)
  return #predicate(term, b)({ i }, req) > 0
end

local function tier(b, name)
  local rank = b.tier_rank[name]
  if rank == nil then
    errors.raise("POL_TIER", {}, "the catalog declares no tier `" .. name .. "`",
      "declare the tier in the overlay or admit the policy with its catalog")
  end
  return rank
end

local function tier_at_least(b, name, least)
  return name ~= nil and tier(b, name) >= tier(b, least)
end

local function needs(routes, pop, req)
  local json, image = req.needs_json, req.needs_image
  if not (json or image) then
    return pop
  end
  return keep(routes, pop, function(route)
    return (route.json or not json) and (route.image or not image)
  end)
end

local function fits(routes, pop, req, per, reserve)
  -- ⌈prompt_bytes ÷ bytes_per_token⌉ + max_tokens + reserve < 2^35: no bound to check.
  local need = (req.prompt_bytes + per - 1) // per + req.max_tokens + reserve
  local out, m = {}, 0
  for k = 1, #pop do
    local i = pop[k]
    local context = routes[i + 1].context
    if context ~= nil and context >= need then
      m = m + 1
      out[m] = i
    end
  end
  return out
end

local function every(kids, pop, req)
  for k = 1, #kids do
    if #pop == 0 then break end
    pop = kids[k](pop, req)
  end
  return pop
end

local function some(kids, pop, req)
  local held, rest = {}, pop
  for k = 1, #kids do
    if #rest == 0 then break end
    local found = kids[k](rest, req)
    if #found > 0 then
      for j = 1, #found do held[found[j]] = true end
      rest = unheld(rest, held)
    end
  end
  local out, m = {}, 0
  for k = 1, #pop do
    if held[pop[k]] then
      m = m + 1
      out[m] = pop[k]
    end
  end
  return out
end

local function none(kid, pop, req)
  return unheld(pop, set_of(kid(pop, req)))
end

-- `term` as a sieve: the §8.1 predicate over a population, its constants read
-- once. A child of `all`/`any` runs only on the ranks the children before it
-- left undecided: per route, the terms evaluated are those a route-by-route
-- evaluation reaches.
function compile(term, b)
  local op, routes = term[1], b.routes
  if op == "true" then
    return function(pop) return pop end
  elseif op == "false" then
    return function() return {} end
  elseif op == "needs" then
    return function(pop, req) return needs(routes, pop, req) end
  elseif op == "json" or op == "image" or op == "has_tee" or op == "no_log" then
    return function(pop) return keep(routes, pop, function(route) return route[op] end) end
  elseif op == "provider_in" or op == "model_in" or op == "family_in" then
    local names, name = set_of(term[2]), op:sub(1, -4)
    return function(pop) return keep(routes, pop, function(route) return names[route[name]] end) end
  elseif op == "route_in" then
    local pairs_in = {}
    for k = 1, #term[2] do
      local p, m = term[2][k][1], term[2][k][2]
      pairs_in[p] = pairs_in[p] or {}
      pairs_in[p][m] = true
    end
    return function(pop)
      return keep(routes, pop, function(route)
        local models = pairs_in[route.provider]
        return models ~= nil and models[route.model]
      end)
    end
  elseif op == "tier_at_least" then
    local rank = b.tier_rank
    if rank[term[2]] ~= nil and b.tiers_declared then
      local least = rank[term[2]]
      -- Every route's tier has a rank: nothing can raise.
      return function(pop)
        return keep(routes, pop, function(route)
          return route.tier ~= nil and rank[route.tier] >= least
        end)
      end
    end
    return function(pop)
      return keep(routes, pop, function(route) return tier_at_least(b, route.tier, term[2]) end)
    end
  elseif op == "has" then
    local column = b.columns[term[2]]
    return function(pop)
      local out, m = {}, 0
      for k = 1, #pop do
        if column[pop[k] + 1] ~= nil then
          m = m + 1
          out[m] = pop[k]
        end
      end
      return out
    end
  elseif COMPARE[op] then
    -- `bind` proved the constant exact at the field's scale: this cannot raise.
    local compare, column = COMPARE[op], b.columns[term[2]]
    local const = decimal_units(term[3], b.scales[term[2]])
    return function(pop)
      local out, m = {}, 0
      for k = 1, #pop do
        local v = column[pop[k] + 1]
        if v ~= nil and compare(v, const) then
          m = m + 1
          out[m] = pop[k]
        end
      end
      return out
    end
  elseif op == "format_in" or op == "entry_in" or op == "role_in" then
    local allowed, fact = set_of(term[2]), op:sub(1, -4)
    return function(pop, req) return allowed[req[fact]] and pop or {} end
  elseif op == "tier_in" then
    local tiers = set_of(term[2])
    return function(pop)
      return keep(routes, pop, function(route) return route.tier ~= nil and tiers[route.tier] end)
    end
  elseif op == "request" then
    local compare, fact, const = COMPARE[term[2]], term[3], term[4]
    return function(pop, req) return compare(req[fact], const) and pop or {} end
  elseif op == "fits_context" then
    local per, reserve = term[2], term[3]
    return function(pop, req) return fits(routes, pop, req, per, reserve) end
  elseif op == "has_images" then
    return function(pop, req) return req.images > 0 and pop or {} end
  end
  local kids = {}
  for k = 2, #term do kids[k - 1] = compile(term[k], b) end
  if op == "all" then
    return function(pop, req) return every(kids, pop, req) end
  elseif op == "any" then
    return function(pop, req) return some(kids, pop, req) end
  end
  return function(pop, req) return none(kids[1], pop, req) end -- "not", the last predicate op
end

-- Split route ranks into survivors and `{rank, first failing predicate}` (rule 1).
local function filter_routes(b, req)
  local top = b.policy.filter
  local parts = top[1] == "all" and { table.unpack(top, 2) } or { top }
  local checks = {}
  for k = 1, #parts do checks[k] = predicate(parts[k], b) end
  local n, ranks = #b.routes, {}
  for r = 1, n do ranks[r] = r - 1 end
  -- All routes part by part; route by route when a part may raise (see `predicate`).
  local groups = { ranks }
  if not b.tiers_declared then
    groups = {}
    for r = 1, n do groups[r] = { r - 1 } end
  end
  local survivors, rejected = {}, {}
  for g = 1, #groups do
    local group = groups[g]
    for k = 1, #parts do
      local kept = checks[k](group, req)
      if #kept < #group then
        local cut, base = unheld(group, set_of(kept)), #rejected
        for j = 1, #cut do rejected[base + j] = { cut[j], parts[k] } end
      end
      group = kept
    end
    table.move(group, 1, #group, #survivors + 1, survivors)
  end
  -- Ranks are distinct: the order is total.
  table.sort(rejected, function(x, y) return x[1] < y[1] end)
  return survivors, rejected
end

--- Split route ranks into survivors and `{rank, first failing predicate}` (rule 1).
function M.filter_routes(b, req)
  return tabulate.filter_routes(b, req, filter_routes)
end

return M
