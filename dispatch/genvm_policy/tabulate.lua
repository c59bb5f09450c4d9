--- Tabulation: the Lua runtime's speed-ups, apart from the spec-shaped code.
--
-- Not normative: docs/IMPLEMENTATION.md §4. `interpreter`, `predicate` and
-- `selection` read as translations of their Python twins; where one of them
-- would run the same work at every decision, it hands its own function to this
-- module, in a call shaped like the operation it serves, and gets back what
-- that function returns, made once per bound policy instead of once per
-- decision. Nothing here computes a result of its own: every table is the
-- spec-shaped function's result, kept.
--
-- Rules:
-- 1. `bind(catalog, policy, bind)`: the bound policy of a (catalog, policy)
--    pair, bound once.
-- 2. `sieve(term, b, sieve)`: a predicate that reads the route and the
--    request's `needs_json`/`needs_image` alone, and cannot raise, keeps a
--    route or not whatever else the request holds: `sieve` runs once over
--    every route for each of the four shapes those two flags make (once in all
--    for a predicate of the route alone), and a population is then sieved by
--    reading that route's flag.
-- 3. `filter_routes(b, req, filter)`: when the whole filter is such a
--    predicate, the split into survivors and rejections depends on the shape
--    alone, and is made once per shape.
-- 4. `score(term, b, pop, req, score)`: a scorer of the route alone (no
--    `normalize`, no `gate` over a predicate that reads the request) gives each
--    route a value its population does not change: evaluated once over every
--    route, then gathered per population. One whose checked arithmetic raises
--    for some route is evaluated per population, so it raises where §8.2 says.
-- 5. `column(b, attr, default)`: a route attribute (`greybox_text`, …) of
--    every rank in one flat table; `by_rank(b, pop, values)`: the rank -> score
--    map `select` is given, left empty when the policy's selector reads no
--    scores (no `argmax`, no `sample` inside it).
-- 6. A bound policy keeps at most `TABLES` route-sized tables (a predicate's
--    flags per shape, a split's two arrays, a scorer's values), about 10 MB at
--    10,000 routes (RELIABILITY §7), plus the list of every rank and at most
--    three attribute columns; past them the spec-shaped function runs at every
--    call, with the same results.
-- 7. The state lives in this module, keyed weakly by catalog and by bound
--    policy: a bound policy holds what `bind` made and nothing is written into it.
--
-- Figures: median `decide` in µs, lupa `lua53`, the benchmark catalogs and
-- policies (benchmarks/) plus `chain` (`has: price_in`, a chain of 64 routes)
-- and the costliest admitted policy, the first attempt's parameters included,
-- both timed in turns on the 2-core development machine under load.
-- "Spec-shaped" replaces this module with one whose six calls run the
-- function they are handed, every time (tests/core/test_tabulate.py, `SPEC_SHAPED`).
--
-- | policy           | routes | spec-shaped | tabulated |
-- |------------------|--------|-------------|-----------|
-- | stock-greybox    |     10 |          36 |        29 |
-- | scored-argmax    |     10 |          74 |        32 |
-- | tiered-weighted  |     10 |         103 |        65 |
-- | sampled-jitter   |     10 |         102 |        69 |
-- | chain            |     10 |          36 |        28 |
-- | stock-greybox    |  1,000 |         181 |        79 |
-- | scored-argmax    |  1,000 |       1,011 |       154 |
-- | tiered-weighted  |  1,000 |         780 |       411 |
-- | sampled-jitter   |  1,000 |         653 |       159 |
-- | chain            |  1,000 |         373 |       171 |
-- | costliest        |  1,000 |       1,161 |     1,002 |
--
-- Against the engine before it was a translation (its tables built inside
-- `predicate`, `interpreter` and `selection`, per-route closures in place of
-- sieves), the same rows in turns, after / before: at 10 routes 0.97 … 1.03;
-- at 1,000 routes stock-greybox 1.00, scored-argmax 1.04, tiered-weighted
-- 1.13 (each later tier gathers the routes not yet placed, as the reference
-- does), sampled-jitter 0.97, chain 0.66, costliest 0.60 (995 µs, target
-- 3 ms: sieves over the population instead of a closure per route and part).

local M = {}

--- Route-sized tables one bound policy may keep (rule 6).
M.TABLES = 64

--- Predicate ops whose result reads the route alone.
M.ROUTE_OPS = { ["true"] = true, ["false"] = true, json = true, image = true, has_tee = true,
  no_log = true, provider_in = true, model_in = true, family_in = true, route_in = true,
  has = true, lt = true, le = true, eq = true, ge = true, gt = true, tier_in = true }

--- Predicate ops whose result reads a request fact other than the shape.
M.REQUEST_OPS = { format_in = true, entry_in = true, role_in = true, request = true,
  fits_context = true, has_images = true }

-- Catalog -> policy -> bound policy; bound policy -> its tables. Weak keys,
-- so a catalog or a bound policy dropped by the caller frees its entries.
local BOUND = setmetatable({}, { __mode = "k" })
local STATE = setmetatable({}, { __mode = "k" })

local function state(b)
  local s = STATE[b]
  if s == nil then
    s = { left = M.TABLES, splits = {}, columns = {}, attrs = {} }
    STATE[b] = s
  end
  return s
end

-- Take `k` route-sized tables from the bound policy's allowance (rule 6);
-- false, taking none, when fewer are left.
local function spend(s, k)
  if s.left < k then
    return false
  end
  s.left = s.left - k
  return true
end

-- Every rank of the bound catalog, in order: what a table is made from.
local function every(b, s)
  if s.every == nil then
    local ranks = {}
    for r = 1, #b.routes do ranks[r] = r - 1 end
    s.every = ranks
  end
  return s.every
end

-- The request's shape, 1 … 4: which of `needs_json`, `needs_image` it sets.
local function shape(req)
  return (req.needs_json and 2 or 0) + (req.needs_image and 1 or 0) + 1
end

-- What predicate `term` reads besides the route: "route" (nothing), "shape"
-- (`needs_json`, `needs_image`), or nil (another request fact, or it may
-- raise: `tier_at_least` while some route's tier is undeclared).
local function reads(term, b)
  local op = term[1]
  if M.ROUTE_OPS[op] then
    return "route"
  elseif op == "tier_at_least" then
    return b.tiers_declared and "route" or nil
  elseif op == "needs" then
    return "shape"
  elseif op == "all" or op == "any" or op == "not" then
    local what = "route"
    for k = 2, #term do
      local kid = reads(term[k], b)
      if kid == nil then return nil end
      if kid == "shape" then what = "shape" end
    end
    return what
  end
  return nil
end

--- Whether scorer `term` reads the route alone (rule 4).
local function route_scorer(term, b)
  local op = term[1]
  if op == "const" or op == "field" or op == "route_value" then
    return true
  elseif op == "neg" then
    return route_scorer(term[2], b)
  elseif op == "scale" then
    return route_scorer(term[4], b)
  elseif op == "sum" or op == "min" or op == "max" then
    for k = 2, #term do
      if not route_scorer(term[k], b) then return false end
    end
    return true
  elseif op == "gate" then
    return reads(term[2], b) == "route" and route_scorer(term[3], b)
  end
  return false -- "normalize" reads its population
end

-- Whether selector `term` reads the survivors' scores (rule 5).
local function reads_scores(term)
  local op = term[1]
  if op == "argmax" or op == "sample" then
    return true
  elseif op == "top_k" then
    return reads_scores(term[3])
  elseif op == "tiers" then
    for t = 1, #term[2] do
      if reads_scores(term[2][t][2]) then return true end
    end
  end
  return false
end

-- -- the five calls ----------------------------------------------------------

--- `bind(catalog, policy)`, made once per pair (rule 1).
function M.bind(catalog, policy, bind)
  local bound = BOUND[catalog]
  if bound == nil then
    bound = setmetatable({}, { __mode = "k" })
    BOUND[catalog] = bound
  end
  local b = bound[policy]
  if b == nil then
    b = bind(catalog, policy)
    bound[policy] = b
  end
  return b
end

--- The sieve of predicate `term` of `b`: `sieve` itself, or `sieve`'s result
--- over every route read as a flag per rank (rule 2).
function M.sieve(term, b, sieve)
  local what = reads(term, b)
  if what == nil or term[1] == "true" or term[1] == "false" then
    -- Nothing to keep: a constant predicate costs less than reading a table.
    return sieve
  end
  local s, tables = state(b), {}
  local function flags(req)
    local k = what == "route" and 1 or shape(req)
    local t = tables[k]
    if t == nil then
      t = false
      if spend(s, 1) then
        t = {}
        for r = 1, #b.routes do t[r] = false end
        local kept = sieve(every(b, s), req)
        for j = 1, #kept do t[kept[j] + 1] = true end
      end
      tables[k] = t
    end
    return t
  end
  return function(pop, req)
    local t = flags(req)
    if not t then
      return sieve(pop, req)
    end
    local out, m = {}, 0
    for k = 1, #pop do
      local i = pop[k]
      if t[i + 1] then
        m = m + 1
        out[m] = i
      end
    end
    return out
  end
end

--- `filter(b, req)`: survivors and rejections, made once per shape when the
--- filter reads no other request fact (rule 3); fresh arrays at every call.
function M.filter_routes(b, req, filter)
  local s = state(b)
  if s.filter_reads == nil then
    s.filter_reads = reads(b.policy.filter, b) or false
  end
  if not s.filter_reads then
    return filter(b, req)
  end
  local k = s.filter_reads == "route" and 1 or shape(req)
  local split = s.splits[k]
  if split == nil then
    split = spend(s, 2) and { filter(b, req) }
    s.splits[k] = split
  end
  if not split then
    return filter(b, req)
  end
  -- The `{rank, part}` pairs are never changed by a caller, so they are shared.
  local survivors, rejected = split[1], split[2]
  return table.move(survivors, 1, #survivors, 1, {}), table.move(rejected, 1, #rejected, 1, {})
end

--- `score(term, b, pop, req)`, gathered from the values of every route when
--- `term` reads the route alone (rule 4).
function M.score(term, b, pop, req, score)
  local s = state(b)
  if term[1] == "const" or s.making then
    -- A constant is cheaper to repeat than to gather; the arguments of a
    -- scorer whose values are being made are evaluated: one table per scorer.
    return score(term, b, pop, req)
  end
  local column = s.columns[term]
  if column == nil then
    column = false
    if route_scorer(term, b) and spend(s, 1) then
      s.making = true
      local ok, values = pcall(score, term, b, every(b, s), req)
      s.making = false
      column = ok and values
    end
    s.columns[term] = column
  end
  if not column then
    return score(term, b, pop, req)
  end
  local out = {}
  for k = 1, #pop do out[k] = column[pop[k] + 1] end
  return out
end

--- Attribute `attr` of every route by rank (`column[i]`, `default` where a
--- route has none): `b.routes[i + 1][attr]`, read from one flat table.
function M.column(b, attr, default)
  local s = state(b)
  local key = default == nil and attr or attr .. "/" .. default
  local column = s.attrs[key]
  if column == nil then
    column = {}
    for r = 1, #b.routes do
      local v = b.routes[r][attr]
      if v == nil then v = default end
      column[r - 1] = v
    end
    s.attrs[key] = column
  end
  return column
end

--- The rank -> score map of survivors `pop` and their `values`, for `select`;
--- empty when the policy's selector reads no scores (rule 5).
function M.by_rank(b, pop, values)
  local s = state(b)
  if s.reads_scores == nil then
    s.reads_scores = reads_scores(b.policy.select)
  end
  local out = {}
  if s.reads_scores then
    for k = 1, #pop do out[pop[k]] = values[k] end
  end
  return out
end

return M
