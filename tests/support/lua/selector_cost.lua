-- The selector-cost driver: decisions with the PRNG draws and HMAC blocks of each select
-- stream, counted by wrapping the stream constructor and `below` (test_selector_cost.py).
local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local catalog = require("genvm_policy.catalog")
local policy = require("genvm_policy.policy")
local request = require("genvm_policy.request")
local decision = require("genvm_policy.decision")
local interpreter = require("genvm_policy.interpreter")
local predicate = require("genvm_policy.predicate")
local selection = require("genvm_policy.selection")
local prng = require("genvm_policy.prng")
local array, map = encoding.array, encoding.map

-- Count draws and blocks per select stream: wrap the stream constructor and `below`.
local Stream = getmetatable(prng.stream("k", "probe")).__index
local open, below = prng.stream, Stream.below
local opened, draws = {}, {}
prng.stream = function(key, label)
  local s = open(key, label)
  opened[#opened + 1] = { label, s }
  return s
end
Stream.below = function(self, n)
  draws[self] = (draws[self] or 0) + 1
  return below(self, n)
end

-- [[label, draws, blocks]...] of the select streams opened since the last call.
local function counts()
  local out = {}
  for k = 1, #opened do
    local label, s = opened[k][1], opened[k][2]
    if label:sub(1, 7) == "select/" then
      out[#out + 1] = array({ label, draws[s] or 0, s.next_block })
    end
  end
  opened, draws = {}, {}
  return array(out)
end

local D = {}

-- The decision's ranks and the select streams' counts; a registered error as {code, path}.
function D.decide(blob)
  local v = encoding.decode(blob)
  local ok, d = pcall(decision.decide, catalog.from_value(v.catalog),
    policy.from_value(v.policy), request.from_value(v.request), v.seed[1])
  if not ok then
    if not errors.is_error(d) then
      error(d, 0)
    end
    counts()
    return encoding.encode(map({ error = array({ d.code, array(d.path) }) }))
  end
  return encoding.encode(map({ ranks = array(d.ranks), counts = counts() }))
end

-- The whole order (no limit) and its counts: shows the counters see every draw.
function D.whole(blob)
  local v = encoding.decode(blob)
  local c, p = catalog.from_value(v.catalog), policy.from_value(v.policy)
  local r = request.from_value(v.request)
  local b = interpreter.bind(c, p)
  local survivors = predicate.filter_routes(b, r)
  local values = interpreter.score(p.score, b, survivors, r)
  local by_rank = {}
  for k = 1, #survivors do
    by_rank[survivors[k]] = values[k]
  end
  local order = selection.select(b, survivors, by_rank, r, v.seed[1])
  return encoding.encode(map({ ranks = array(order), counts = counts() }))
end

return D
