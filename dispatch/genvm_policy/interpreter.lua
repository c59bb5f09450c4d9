--- The interpreter: bind, filter, score and mutate over a bound catalog.
--
-- Spec: docs/SPEC.md §8 (Interpreter): binding, §8.1, §8.2 and §8.4.
-- Mirrors genvm_policy/interpreter.py. Select (§8.3) is its own module,
-- `genvm_policy.selection`, which calls `holds` and `score` from here.
--
-- Rules:
-- 1. Routes are ranked once by (provider bytes, model bytes): the catalog's
--    array order (catalog.lua rule 2), rank = index − 1. That rank is the
--    tie-break of every order, and every sort key is an integer pair
--    compared by a total comparator: no string `<`, no host call inside.
-- 2. Filter (§8.1): a rejected route's reason is the first child of the
--    top-level `all` that fails (or the whole filter). A missing field value
--    fails every comparison.
-- 3. Score (§8.2): checked integer arithmetic over the surviving population;
--    `normalize` maps `v` to `(v − lo) × R // (hi − lo)`, or `R` when `hi = lo`.
-- 4. Mutate (§8.4) runs per attempt `a` (0-based): jitter on `p` draws from
--    `mutate/jitter/<p>/<a>`; the provider seed of attempt `a` is the `a`-th
--    `u53()` of `attempt/seed`, read from block `a // 4`.
-- 5. `bind` checks the policy against the catalog before anything runs:
--    declared fields (`POL_FIELD`), constants exact at their field's scale
--    (`NUM_INEXACT`, `NUM_RANGE`), declared `tier_at_least` tiers
--    (`POL_TIER`), in pre-order (filter, score, select, each mutation;
--    arguments left to right), at the path in the policy value.
--
-- Populations are arrays of ranks (0-based integers); a bound catalog keeps
-- each route's numeric fields in `values[rank + 1]`. `bind` is cached per
-- (catalog, policy) pair, so a decision does no per-route setup; `holds`
-- evaluates a term through a closure compiled once per bound policy.

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local numeric = require("genvm_policy.numeric")
local policy_mod = require("genvm_policy.policy")
local prng = require("genvm_policy.prng")

local M = {}

local add, sub, mul, neg, floordiv = numeric.add, numeric.sub, numeric.mul, numeric.neg,
  numeric.floordiv
local MAX = numeric.MAX
local BUILTIN_FIELDS, PARAMS = policy_mod.BUILTIN_FIELDS, policy_mod.PARAMS
local sort, unpack = table.sort, string.unpack

-- Names of the fields a policy reads; only those must lie in the language's bounds.
local function fields_used(v, found)
  if encoding.kind(v) == "array" then
    local op = v[1]
    if (op == "field" or op == "has" or op == "lt" or op == "le" or op == "eq" or op == "ge"
        or op == "gt") and type(v[2]) == "string" then
      found[v[2]] = true
    end
    for i = 1, #v do
      fields_used(v[i], found)
    end
  elseif encoding.kind(v) == "map" then
    for _, item in pairs(v) do  -- order-free: builds a set
      fields_used(item, found)
    end
  end
  return found
end

-- Units of `10^-scale` of a `[mantissa, exponent]` pair (admission.decimal_units).
local function units(pair, scale, path)
  local shift = pair[2] + scale
  if shift < 0 then
    errors.raise("NUM_INEXACT", path, "the constant needs more than " .. scale
      .. " fractional digits for this field")
  end
  local value = pair[1]
  for _ = 1, shift do
    value = mul(value, 10, path)
  end
  return value
end

local function at(path, ...)
  local out = { table.unpack(path) }
  for _, seg in ipairs({ ... }) do
    out[#out + 1] = seg
  end
  return out
end

local NAMES_FIELD = { has = true, field = true, lt = true, le = true, eq = true, ge = true,
  gt = true }

-- Fail on the first field, tier or constant this catalog cannot serve (rule 5).
local function check_names(policy, scales, tier_rank)
  local stack = {}
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
      if op ~= "has" then
        units(term[3], scale, at(path, 2))
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
end

--- Bind `policy` to `catalog` (rule 1): read each route's numeric fields once.
--- Raises `POL_FIELD`, `POL_TIER`, `NUM_INEXACT` (rule 5) and `NUM_RANGE`, for
--- a constant or a built-in field the policy reads outside its bounds.
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
  check_names(policy, scales, catalog.tier_rank)
  local used = {}
  for name in pairs(fields_used(policy.value, {})) do  -- order-free: sorted below
    if scales[name] then
      used[#used + 1] = name
    end
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
            .. decl[2] .. " … " .. decl[3], "see the field table of the spec, section 7")
        end
      else
        value = route.fields[name]
      end
      row[name] = value
    end
    values[r] = row
  end
  local b = { policy = policy, routes = routes, values = values, scales = scales,
    tier_rank = catalog.tier_rank, consts = {}, preds = {} }
  cache[policy] = b
  return b
end

-- -- filter (§8.1) -----------------------------------------------------------

local function tier(b, name)
  local rank = b.tier_rank[name]
  if rank == nil then
    errors.raise("POL_TIER", {}, "the catalog declares no tier `" .. name .. "`",
      "declare the tier in the overlay or admit the policy with its catalog")
  end
  return rank
end

local function field(b, i, name)
  return b.values[i + 1][name] -- `bind` checked that the catalog declares `name`
end

local function contains(list, x)
  for k = 1, #list do
    if list[k] == x then
      return true
    end
  end
  return false
end

local holds, holds_term

local function holds_compare(op, value, c)
  if op == "lt" then
    return value < c
  elseif op == "le" then
    return value <= c
  elseif op == "eq" then
    return value == c
  elseif op == "ge" then
    return value >= c
  end
  return value > c
end

-- The general evaluation of `term`: the closures below call it for the ops
-- they do not specialise, so every op has one definition of its meaning.
function holds_term(term, b, i, req)
  local op = term[1]
  local route = b.routes[i + 1]
  if op == "true" or op == "false" then
    return op == "true"
  elseif op == "needs" then
    return (route.json or not req.needs_json) and (route.image or not req.needs_image)
  elseif op == "json" or op == "image" or op == "has_tee" or op == "no_log" then
    return route[op]
  elseif op == "provider_in" then
    return contains(term[2], route.provider)
  elseif op == "model_in" then
    return contains(term[2], route.model)
  elseif op == "route_in" then
    local rows = term[2]
    for k = 1, #rows do
      if rows[k][1] == route.provider and rows[k][2] == route.model then
        return true
      end
    end
    return false
  elseif op == "family_in" then
    return route.family ~= nil and contains(term[2], route.family)
  elseif op == "tier_at_least" then
    return route.tier ~= nil and tier(b, route.tier) >= tier(b, term[2])
  elseif op == "has" then
    return field(b, i, term[2]) ~= nil
  elseif op == "lt" or op == "le" or op == "eq" or op == "ge" or op == "gt" then
    local value = field(b, i, term[2])
    if value == nil then return false end
    -- The constant in field units, once per bound policy, not once per route.
    local c = b.consts[term]
    if c == nil then
      c = units(term[3], b.scales[term[2]])
      b.consts[term] = c
    end
    return holds_compare(op, value, c)
  elseif op == "format_in" then
    return contains(term[2], req.format)
  elseif op == "entry_in" then
    return contains(term[2], req.entry)
  elseif op == "has_images" then
    return req.images > 0
  elseif op == "all" then
    for k = 2, #term do
      if not holds(term[k], b, i, req) then
        return false
      end
    end
    return true
  elseif op == "any" then
    for k = 2, #term do
      if holds(term[k], b, i, req) then
        return true
      end
    end
    return false
  end
  return not holds(term[2], b, i, req) -- "not", the last predicate op
end

-- A closure `f(i, req)` equal to `holds_term(term, b, i, req)`, made once per
-- bound policy: the ops a decision evaluates per route skip the if-chain.
-- Constants and tier ranks are still resolved on first use, as the chain does.
local function compile(term, b)
  local op = term[1]
  local routes, values = b.routes, b.values
  if op == "tier_at_least" then
    local rank, want = b.tier_rank, nil
    return function(i)
      local name = routes[i + 1].tier
      if name == nil then return false end
      local have = rank[name] or tier(b, name)
      want = want or tier(b, term[2])
      return have >= want
    end
  elseif op == "has" then
    local name = term[2]
    return function(i) return values[i + 1][name] ~= nil end
  elseif op == "all" or op == "any" then
    local parts, n, want = {}, #term - 1, op == "any"
    for k = 2, #term do
      parts[k - 1] = term[k]
    end
    -- `not not`: a route flag may be nil, which counts as false.
    return function(i, req)
      for k = 1, n do
        if not not holds(parts[k], b, i, req) == want then
          return want
        end
      end
      return not want
    end
  end
  return function(i, req) return holds_term(term, b, i, req) end
end

--- Whether predicate `term` holds for route rank `i` under request `req`.
function holds(term, b, i, req)
  local f = b.preds[term]
  if f == nil then
    f = compile(term, b)
    b.preds[term] = f
  end
  return f(i, req)
end
M.holds = holds

--- Split route ranks into survivors and `{rank, first failing predicate}` (rule 2).
function M.filter_routes(b, req)
  local top = b.policy.filter
  local first, parts = 1, { top }
  if top[1] == "all" then
    first, parts = 2, top
  end
  local survivors, rejected = {}, {}
  for i = 0, #b.routes - 1 do
    local failing
    for k = first, #parts do
      if not holds(parts[k], b, i, req) then
        failing = parts[k]
        break
      end
    end
    if failing == nil then
      survivors[#survivors + 1] = i
    else
      rejected[#rejected + 1] = { i, failing }
    end
  end
  return survivors, rejected
end

-- -- score (§8.2) ------------------------------------------------------------

local score

--- The value of scorer `term` for each rank of `pop`, in `pop` order (rule 3).
function score(term, b, pop, req)
  local op, out, n = term[1], {}, #pop
  if op == "const" then
    for k = 1, n do
      out[k] = term[2]
    end
  elseif op == "field" then
    local default = units(term[3], b.scales[term[2]])
    for k = 1, n do
      local value = field(b, pop[k], term[2])
      out[k] = value == nil and default or value
    end
  elseif op == "route_value" then
    local rows, fallback = term[2], term[3]
    for k = 1, n do
      local route = b.routes[pop[k] + 1]
      out[k] = fallback
      for r = 1, #rows do
        if rows[r][1] == route.provider and rows[r][2] == route.model then
          out[k] = rows[r][3]
          break
        end
      end
    end
  elseif op == "neg" then
    out = score(term[2], b, pop, req)
    for k = 1, n do
      out[k] = neg(out[k])
    end
  elseif op == "scale" then
    out = score(term[4], b, pop, req)
    for k = 1, n do
      out[k] = floordiv(mul(out[k], term[2]), term[3])
    end
  elseif op == "sum" or op == "min" or op == "max" then
    out = score(term[2], b, pop, req)
    for c = 3, #term do
      local col = score(term[c], b, pop, req)
      for k = 1, n do
        local x, y = out[k], col[k]
        if op == "sum" then
          out[k] = add(x, y)
        elseif op == "min" then
          out[k] = y < x and y or x
        else
          out[k] = y > x and y or x
        end
      end
    end
  elseif op == "gate" then
    out = score(term[3], b, pop, req)
    for k = 1, n do
      if not holds(term[2], b, pop[k], req) then
        out[k] = 0
      end
    end
  else -- "normalize", the last scorer op
    out = score(term[3], b, pop, req)
    if n == 0 then
      return out
    end
    local lo, hi = out[1], out[1]
    for k = 2, n do
      lo = out[k] < lo and out[k] or lo
      hi = out[k] > hi and out[k] or hi
    end
    local to = term[2]
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
  end
  return out
end
M.score = score

-- -- mutate (§8.4) -----------------------------------------------------------

--- The canonical map of one attempt's parameters (§9).
function M.params_value(p)
  local filters = {}
  for k = 1, #p.text_filters do
    filters[k] = p.text_filters[k]
  end
  return encoding.map({ temperature = p.temperature, max_tokens = p.max_tokens, seed = p.seed,
    use_max_completion_tokens = p.use_max_completion_tokens,
    text_filters = encoding.array(filters) })
end

local function apply(terms, first, b, i, attempt, req, seed, state, streams)
  for k = first, #terms do
    local term = terms[k]
    local op = term[1]
    if op == "set" then
      state[term[2]] = term[3]
    elseif op == "clamp" then
      local v = state[term[2]]
      v = v < term[4] and v or term[4]
      state[term[2]] = v > term[3] and v or term[3]
    elseif op == "jitter" then
      local param = term[2]
      local stream = streams[param]
      if stream == nil then
        stream = prng.stream(seed, "mutate/jitter/" .. param .. "/" .. attempt)
        streams[param] = stream
      end
      local step = term[3] + stream:below(term[4] - term[3] + 1)
      local lo, hi = PARAMS[param][2], PARAMS[param][3]
      local v = state[param] + step
      state[param] = v < lo and lo or v > hi and hi or v
    elseif op == "text_filters" then
      state.text_filters = term[2]
    elseif op == "use_max_completion_tokens" then
      state.use_max_completion_tokens = b.routes[i + 1].max_completion_tokens
    elseif holds(term[2], b, i, req) then -- "when"
      apply(term, 3, b, i, attempt, req, seed, state, streams)
    end
  end
end

--- The `attempt`-th `u53()` of the stream `attempt/seed` (rule 4): four per block.
function M.provider_seed(seed, attempt)
  local block = prng.stream_block(seed, "attempt/seed", attempt // 4)
  local hi, lo = unpack(">I4I4", block, attempt % 4 * 8 + 1)
  return (hi << 21) | (lo >> 11)
end

--- Apply the mutate slot for attempt `attempt` (0-based) on route rank `i`
--- (rule 4); a pure function of its arguments.
function M.mutate(b, i, attempt, req, seed)
  local state = { temperature = req.temperature, max_tokens = req.max_tokens,
    use_max_completion_tokens = false, text_filters = {} }
  apply(b.policy.mutate, 1, b, i, attempt, req, seed, state, {})
  return { temperature = state.temperature, max_tokens = state.max_tokens,
    seed = M.provider_seed(seed, attempt),
    use_max_completion_tokens = state.use_max_completion_tokens,
    text_filters = state.text_filters }
end

return M
