--- Select: the failover order of the surviving routes, best first.
--
-- Spec: docs/SPEC.md §8.3 (Select). Mirrors genvm_policy/selection.py.
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

local M = {}

local add, MAX = numeric.add, numeric.MAX
local predicate, score = predicate_mod.predicate, interpreter.score
local sort = table.sort

-- -- select (§8.3) -----------------------------------------------------------

-- Numbers the random selectors in evaluation order (rule 2).
local function draw_stream(draws, op)
  local label = "select/" .. op .. "/" .. draws.count
  draws.count = draws.count + 1
  return prng.stream(draws.seed, label)
end

-- Sort `keys` (arrays {k1, k2}) ascending by (k1, k2): integers, a total order.
local function key_less(x, y)
  if x[1] ~= y[1] then
    return x[1] < y[1]
  end
  return x[2] < y[2]
end

-- Above this limit a full sort is cheaper than insertion into the kept prefix.
local PARTIAL_MAX = 32

-- The first `limit` ranks of `pop` by (key, rank) ascending, where the key of
-- rank `i` is `sign × keys[i + offset]` and a rank whose key is nil or false is
-- left out. Ranks are distinct, so the order is total (rule 1). For small
-- limits (every decision's `max_attempts`) the kept ranks form a sorted prefix
-- of at most `limit`: about one comparison per route, no table per route, no
-- comparator call; keys are read from `keys` in place, never copied.
local function smallest(pop, keys, offset, sign, limit)
  local n = #pop
  if limit > n then limit = n end
  if limit <= 0 then return {} end
  if limit > PARTIAL_MAX then
    local keyed, out, m = {}, {}, 0
    for k = 1, n do
      local i = pop[k]
      local key = keys[i + offset]
      if key then
        m = m + 1
        keyed[m] = { sign * key, i }
      end
    end
    sort(keyed, key_less)
    for k = 1, math.min(limit, m) do out[k] = keyed[k][2] end
    return out
  end
  local bx, by, m = {}, {}, 0
  for k = 1, n do
    local b = pop[k]
    local a = keys[b + offset]
    if a then
      a = sign * a
      if m < limit or a < bx[m] or (a == bx[m] and b < by[m]) then
        local j = m < limit and m + 1 or m
        m = j
        while j > 1 and (bx[j - 1] > a or (bx[j - 1] == a and by[j - 1] > b)) do
          bx[j], by[j] = bx[j - 1], by[j - 1]
          j = j - 1
        end
        bx[j], by[j] = a, b
      end
    end
  end
  return by
end

local function argmax(pop, scores, limit)
  return smallest(pop, scores, 0, -1, limit)
end

-- Each route's greybox position for `attr` by rank + 1 (false when it has
-- none), made once per bound policy: the selector reads one flat array
-- instead of one route table per survivor.
local function positions(b, attr)
  local column = b.positions[attr]
  if not column then
    column = {}
    for r = 1, #b.routes do
      local position = b.routes[r][attr]
      column[r] = position ~= nil and position
    end
    b.positions[attr] = column
  end
  return column
end

-- Each route's `priority` by rank + 1 (0 when it has none), made once per bound
-- policy: `stock`'s order where no survivor has a position for the class.
local function priorities(b)
  local column = b.positions.priority
  if not column then
    column = {}
    for r = 1, #b.routes do
      column[r] = b.routes[r].priority or 0
    end
    b.positions.priority = column
  end
  return column
end

-- Whether some rank of `pop` has a key in `column` (indexed by rank + 1).
local function any_keyed(pop, column)
  for k = 1, #pop do
    if column[pop[k] + 1] then return true end
  end
  return false
end

-- The first `limit` picks of §8.3's walk, by a Fenwick tree over the weights in
-- rank order: a picked route's weight becomes 0, the walk over those left.
local function weighted(weights, pop, stream, limit)
  local total = 0
  for k = 1, #pop do
    local w = weights[k]
    if w > 0 then
      -- Weights are positive and within MAX: only the running total can leave
      -- the range, and then the checked sum raises as §1.2 specifies.
      local sum = total + w
      if sum > MAX then sum = add(total, w) end
      total = sum
    end
  end
  -- Past the limit only the checked total had to run (rule 3): nothing to draw.
  if limit <= 0 or total == 0 then
    return {}
  end
  local ranks, kept, tree, n = {}, {}, {}, 0
  for k = 1, #pop do
    local w = weights[k]
    if w > 0 then
      n = n + 1
      ranks[n], kept[n], tree[n] = pop[k], w, w
    end
  end
  -- tree[j] sums positions j − (j & −j) + 1 … j: within `total`, so within MAX.
  for j = 1, n do
    local up = j + (j & -j)
    if up <= n then tree[up] = tree[up] + tree[j] end
  end
  local top, order = 1, {}
  while top * 2 <= n do top = top * 2 end
  for a = 1, math.min(limit, n) do
    local r, at, step = stream:below(total), 0, top
    while step > 0 do
      local next_at = at + step
      if next_at <= n and tree[next_at] <= r then
        at, r = next_at, r - tree[next_at]
      end
      step = step >> 1
    end
    -- The first `at` positions sum to at most the draw, one more exceeds it.
    local j, w = at + 1, kept[at + 1]
    order[a], total = ranks[j], total - w
    while j <= n do
      tree[j] = tree[j] - w
      j = j + (j & -j)
    end
  end
  return order
end

-- `ranked` is argmax's first `limit + spread` routes: a later key is at least
-- `limit + spread`, above every key of the first `limit` positions; drawing in
-- position order takes the same prefix of the stream as the full order does.
local function sample(spread, ranked, stream, limit)
  if limit == 0 then return {} end
  if spread == 0 then return ranked end
  local keys, places, m, bound = {}, {}, 0, spread + 1
  if limit > PARTIAL_MAX then
    local keyed, out = {}, {}
    for r = 1, #ranked do
      keyed[r] = { (r - 1) + stream:below(bound), r - 1, ranked[r] }
    end
    sort(keyed, key_less)
    for k = 1, math.min(limit, #keyed) do out[k] = keyed[k][3] end
    return out
  end
  -- The first `limit` places by (key, position), kept sorted as they come
  -- (the limit is a decision's `max_attempts`, so the prefix is short).
  for r = 1, #ranked do
    -- key = position + draw; a tie keeps position order, and positions only grow.
    local key = (r - 1) + stream:below(bound)
    if m < limit or key < keys[m] then
      local j = m < limit and m + 1 or m
      m = j
      while j > 1 and keys[j - 1] > key do
        keys[j], places[j] = keys[j - 1], places[j - 1]
        j = j - 1
      end
      keys[j], places[j] = key, r
    end
  end
  local out = {}
  for k = 1, m do
    out[k] = ranked[places[k]]
  end
  return out
end

local function select_term(term, b, pop, scores, req, draws, limit)
  local op = term[1]
  if op == "argmax" then
    return argmax(pop, scores, limit)
  elseif op == "chain" then
    local where, out = {}, {}
    for k = 1, #pop do
      local route = b.routes[pop[k] + 1]
      where[route.provider .. "\0" .. route.model] = pop[k]
    end
    local rows = term[2]
    for k = 1, #rows do
      local i = where[rows[k][1] .. "\0" .. rows[k][2]]
      if i ~= nil and #out < limit then
        out[#out + 1] = i
      end
    end
    return out
  elseif op == "greybox" or op == "stock" then
    local column = positions(b, req.needs_image and "greybox_image" or "greybox_text")
    if op == "stock" and not any_keyed(pop, column) then
      -- No survivor has a chain position for this class: priority high first.
      return smallest(pop, priorities(b), 1, -1, limit)
    end
    return smallest(pop, column, 1, 1, limit)
  elseif op == "top_k" then
    return select_term(term[3], b, pop, scores, req, draws, math.min(term[2], limit))
  elseif op == "tiers" then
    local placed, order = {}, {}
    local rows = term[2]
    for t = 1, #rows do
      local members, m = {}, 0
      local f, flags = predicate(rows[t][1], b, req)
      for k = 1, #pop do
        local i = pop[k]
        if not placed[i] then
          local ok
          if flags then ok = flags[i + 1] else ok = f(i, req) end
          if ok then
            m = m + 1
            members[m] = i
          end
        end
      end
      -- Tiers past the limit still run (limit 0): scorers raise, numbers hold.
      local inner = select_term(rows[t][2], b, members, scores, req, draws, limit - #order)
      -- Only what the tier's selector placed is taken: the members it cut stay.
      for k = 1, #inner do
        order[#order + 1], placed[inner[k]] = inner[k], true
      end
    end
    return order
  elseif op == "weighted" then
    return weighted(score(term[2], b, pop, req), pop, draw_stream(draws, "weighted"), limit)
  end
  local ranked = argmax(pop, scores, limit + term[2]) -- "sample"
  return sample(term[2], ranked, draw_stream(draws, "sample"), limit)
end

--- Whether selector `term` reads the survivors' scores (`argmax`, `sample`,
--- anywhere inside it); when it does not, `select` never reads `scores`.
function M.reads_scores(term)
  local op = term[1]
  if op == "argmax" or op == "sample" then
    return true
  elseif op == "top_k" then
    return M.reads_scores(term[3])
  elseif op == "tiers" then
    for t = 1, #term[2] do
      if M.reads_scores(term[2][t][2]) then return true end
    end
  end
  return false
end

--- The failover order of the surviving ranks `pop`, best first; `scores`
--- maps rank -> score. With `limit`, only the first `limit` routes (rule 3).
function M.select(b, pop, scores, req, seed, limit)
  return select_term(b.policy.select, b, pop, scores, req, { seed = seed, count = 0 },
    limit or #pop)
end

return M
