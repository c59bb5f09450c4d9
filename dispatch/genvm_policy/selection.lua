--- Select: the failover order of the surviving routes, best first.
--
-- Spec: docs/SPEC.md §8.3 (Select). Mirrors genvm_policy/core/selection.py.
--
-- Rules:
-- 1. Every order is total: `argmax` by (score descending, rank), `greybox` by
--    (position, rank), `stock` by (position, rank) or, when no survivor has a
--    position for the request's class, by (priority descending, rank);
--    `sample` by (key, position): integer pairs under a
--    total comparator, no string `<`, no host call inside. `chain` keeps its
--    list order and `tiers` the order of its rows. Rank is the bound
--    catalog's (interpreter rule 1).
-- 2. Random selectors draw from `select/<op>/<n>`, `n` counting them in
--    pre-order of evaluation (every tier's selector is evaluated).
-- 3. The limit rule: with a limit `L`, the first `L` routes of the whole
--    order only. A limit stops draws and picks, never a tier or a scorer (so
--    it raises what the whole order raises); `top_k k X` gives `X` the limit
--    `min(k, L)`, a tier the limit left after the tiers before it.
-- 4. `tiers` places a route in the first tier whose selector places it: a
--    member its selector leaves out stays for the later tiers.
-- 5. `weighted` draws `min(L, routes with weight > 0)` times through a
--    Fenwick tree over the weights in rank order; `Σw` is a checked sum.
-- 6. `sample` draws only for the first `L + spread` positions of argmax's
--    order: a later position cannot reach the first `L` places.

local interpreter = require("genvm_policy.interpreter")
local predicate_mod = require("genvm_policy.predicate")
local numeric = require("genvm_policy.numeric")
local prng = require("genvm_policy.prng")
local tabulate = require("genvm_policy.tabulate")

local M = {}

local add, MAX = numeric.add, numeric.MAX
local predicate, score = predicate_mod.predicate, interpreter.score

--- Up to this limit the first `limit` of an order are kept as they come
--- (Python: a heap of that size); above it a full sort is cheaper.
M.PARTIAL_MAX = 32
local PARTIAL_MAX = M.PARTIAL_MAX

-- -- select (§8.3) -----------------------------------------------------------

-- Numbers the random selectors in evaluation order (rule 2).
local function draw_stream(draws, op)
  local label = "select/" .. op .. "/" .. draws.count
  draws.count = draws.count + 1
  return prng.stream(draws.seed, label)
end

-- (key, rank) pairs ascending: integers, a total order.
local function key_less(x, y)
  if x[1] ~= y[1] then
    return x[1] < y[1]
  end
  return x[2] < y[2]
end

-- The `limit` smallest (key, rank) pairs of `pop`, ascending, as ranks: the
-- key of rank `i` is `sign × keys[i]`, and a rank with no key is left out;
-- `sorted(pairs)[:limit]`. Ranks are distinct, so the order is total (rule 1).
-- A decision's limit is its `max_attempts`: up to `PARTIAL_MAX`, the kept
-- pairs form a sorted prefix of at most `limit`, about one comparison per
-- rank, no table per rank, keys read in place.
local function smallest(limit, pop, keys, sign)
  local n = #pop
  if limit > n then limit = n end
  if limit <= 0 then return {} end
  if limit > PARTIAL_MAX then
    local keyed, out, m = {}, {}, 0
    for k = 1, n do
      local key = keys[pop[k]]
      if key ~= nil then
        m = m + 1
        keyed[m] = { sign * key, pop[k] }
      end
    end
    table.sort(keyed, key_less)
    for k = 1, math.min(limit, m) do out[k] = keyed[k][2] end
    return out
  end
  local kx, kr, m = {}, {}, 0
  for k = 1, n do
    local r = pop[k]
    local x = keys[r]
    if x ~= nil then
      x = sign * x
      if m < limit or x < kx[m] or (x == kx[m] and r < kr[m]) then
        local j = m < limit and m + 1 or m
        m = j
        while j > 1 and (kx[j - 1] > x or (kx[j - 1] == x and kr[j - 1] > r)) do
          kx[j], kr[j] = kx[j - 1], kr[j - 1]
          j = j - 1
        end
        kx[j], kr[j] = x, r
      end
    end
  end
  return kr
end

-- Whether some rank of `pop` has a key.
local function any_keyed(pop, keys)
  for k = 1, #pop do
    if keys[pop[k]] ~= nil then return true end
  end
  return false
end

local function argmax(pop, scores, limit)
  return smallest(limit, pop, scores, -1) -- (−score, rank)
end

-- The first `limit` picks of §8.3's walk: draw without replacement, chance
-- proportional to weight; weight ≤ 0 is left out. A Fenwick tree over the
-- weights in rank order finds each pick in O(log N): the first position whose
-- prefix sum exceeds `r` is the route the walk stops at, and a picked route's
-- weight becomes 0, which is the walk over the routes that remain.
local function weighted(weights, pop, stream, limit)
  local ranks, positive, n = {}, {}, 0
  for k = 1, #pop do
    if weights[k] > 0 then
      n = n + 1
      ranks[n], positive[n] = pop[k], weights[k]
    end
  end
  -- Positive weights within MAX: the running total can leave the range only
  -- past MAX, and there the checked sum raises, at the first partial sum
  -- that does, as specified.
  local total = 0
  for j = 1, n do
    local sum = total + positive[j]
    if sum > MAX then sum = add(total, positive[j]) end
    total = sum
  end
  if math.min(limit, n) <= 0 then
    return {}
  end
  -- tree[j] (1-based) sums the weights of positions j − (j & −j) + 1 … j (the
  -- reference takes it from prefix sums; here each node is added into its
  -- parent); each is a part of `total`, so within MAX.
  local tree = table.move(positive, 1, n, 1, {})
  for j = 1, n do
    local up = j + (j & -j)
    if up <= n then tree[up] = tree[up] + tree[j] end
  end
  local top = 1
  while top * 2 <= n do top = top * 2 end
  local order = {}
  for a = 1, math.min(limit, n) do
    local r, at, step = stream:below(total), 0, top
    while step > 0 do
      if at + step <= n and tree[at + step] <= r then
        at = at + step
        r = r - tree[at]
      end
      step = step >> 1
    end
    -- The first `at` positions sum to at most the draw, one more exceeds it:
    -- that route (0-based index `at`) is the pick.
    local i, w = ranks[at + 1], positive[at + 1]
    order[a] = i
    total = total - w
    local j = at + 1
    while j <= n do
      tree[j] = tree[j] - w
      j = j + (j & -j)
    end
  end
  return order
end

-- Perturb each position by a draw in `0 … spread`, re-sort by (key, position).
-- `ranked` is argmax's first `limit + spread` routes: a later position's key
-- is at least `limit + spread`, above every key of the first `limit`
-- positions, so it cannot reach the first `limit` places; drawing in position
-- order takes the same prefix of the stream as the full order does.
local function sample(spread, ranked, stream, limit)
  if limit == 0 then return {} end
  if spread == 0 then return ranked end
  local keys, places = {}, {} -- position -> key; the positions 0, 1, …
  for p = 0, #ranked - 1 do
    keys[p], places[p + 1] = p + stream:below(spread + 1), p
  end
  local out = smallest(limit, places, keys, 1)
  for k = 1, #out do out[k] = ranked[out[k] + 1] end
  return out
end

local function select_term(term, b, pop, scores, req, draws, limit)
  local op = term[1]
  if op == "argmax" then
    return argmax(pop, scores, limit)
  elseif op == "chain" then
    local where, routes = {}, b.routes
    for k = 1, #pop do
      local route = routes[pop[k] + 1]
      where[route.provider] = where[route.provider] or {}
      where[route.provider][route.model] = pop[k]
    end
    local out, m, rows = {}, 0, term[2]
    for k = 1, #rows do
      local models = where[rows[k][1]]
      local i = models and models[rows[k][2]]
      if i ~= nil and m < limit then
        m = m + 1
        out[m] = i
      end
    end
    return out
  elseif op == "greybox" or op == "stock" then
    local position = req.needs_image and "greybox_image" or "greybox_text"
    local keys = tabulate.column(b, position)
    if op == "stock" and not any_keyed(pop, keys) then
      -- No survivor has a chain position for this class: the newer line's
      -- default order, so the fallback never plans nothing while a route is left.
      return smallest(limit, pop, tabulate.column(b, "priority", 0), -1)
    end
    return smallest(limit, pop, keys, 1)
  elseif op == "top_k" then
    return select_term(term[3], b, pop, scores, req, draws, math.min(term[2], limit))
  elseif op == "tiers" then
    local placed, order, rows = {}, {}, term[2]
    for t = 1, #rows do
      -- The survivors no tier before has placed (all of them until one has: a
      -- sieve never changes its argument).
      local rest, m = #order > 0 and {} or pop, 0
      for k = 1, #order > 0 and #pop or 0 do
        if not placed[pop[k]] then
          m = m + 1
          rest[m] = pop[k]
        end
      end
      local members = predicate(rows[t][1], b)(rest, req)
      -- A full order still runs the later tiers (limit 0): their scorers
      -- raise as before and their selectors keep their numbers (rules 2, 3).
      local got = select_term(rows[t][2], b, members, scores, req, draws, limit - #order)
      -- Only what the tier's selector placed is taken: the members it cut
      -- (a chain that omits them, top_k past k, …) stay for later tiers.
      local base = #order
      for k = 1, #got do
        placed[got[k]] = true
        order[base + k] = got[k]
      end
    end
    return order
  elseif op == "weighted" then
    local weights = score(term[2], b, pop, req)
    return weighted(weights, pop, draw_stream(draws, "weighted"), limit)
  end
  local ranked = argmax(pop, scores, limit + term[2]) -- "sample"
  return sample(term[2], ranked, draw_stream(draws, "sample"), limit)
end

--- The failover order of the surviving routes `pop` (ranks), best first;
--- `scores` maps rank -> score. With `limit`, only the first `limit` routes
--- of that order (rule 3).
function M.select(b, pop, scores, req, seed, limit)
  return select_term(b.policy.select, b, pop, scores, req, { seed = seed, count = 0 },
    limit or #pop)
end

return M
