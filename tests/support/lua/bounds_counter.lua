-- The bounds driver: decides the largest admissible policy while counting VM instructions
-- and memory, for the node-side resource bounds (test_bounds.py).
local decision = require("genvm_policy.decision")
local encoding = require("genvm_policy.encoding")
local catalog = require("genvm_policy.catalog")
local policy = require("genvm_policy.policy")
local request = require("genvm_policy.request")
return function(blob, step)
  local v = encoding.decode(blob)
  local c, p = catalog.from_value(v.catalog), policy.from_value(v.policy)
  local r = request.from_value(v.request)
  collectgarbage("collect")
  local before = collectgarbage("count")
  local ticks, peak = 0, before
  debug.sethook(function()
    ticks = ticks + 1
    local now = collectgarbage("count")
    if now > peak then peak = now end
  end, "", step)
  local d = decision.decide(c, p, r, v.seed[1])
  debug.sethook()
  return ticks * step, peak - before, #d.routes
end
