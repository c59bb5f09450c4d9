--- The install grid: many decisions of one catalog and policy, decoded once.
--
-- Spec: docs/SPEC.md §9.4 (rule 4) and docs/INSTALL.md §5 (step 5). Used by
-- genvm_policy/installcheck.py in `lupa` states over the installed hook's bundle
-- and, under the stand-alone interpreter, by dispatch/vectors/grid_installed.lua.
--
-- Rules:
-- 1. The input is the canonical CBOR of `{catalog, policy, cases}`: a catalog value,
--    a policy value and `cases`, an array of `[request, seed]` (a request map, a
--    byte string). The catalog and policy are read once (no admission), so the
--    grid costs one decode and one bind, not one per case.
-- 2. The output is the canonical CBOR of an array with one item per case, in
--    order: `{output = report}` (`decision.report`, what a `decision` vector's
--    output holds) or `{error = errors.as_value(e)}` for a registered error, as
--    the vector runner gives them; the reference builds the same bytes.

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local catalog = require("genvm_policy.catalog")
local decision = require("genvm_policy.decision")
local policy = require("genvm_policy.policy")
local request = require("genvm_policy.request")

local M = {}

local array, map = encoding.array, encoding.map

local function one(c, p, case)
  local ok, result = pcall(function()
    local r = request.from_value(case[1])
    local seed = case[2]
    if encoding.kind(seed) == "bytes" then seed = seed[1] end
    return decision.report(decision.decide(c, p, r, seed))
  end)
  if ok then
    return map({ output = result })
  elseif errors.is_error(result) then
    return map({ error = errors.as_value(result) })
  end
  error(result, 0)
end

--- The output bytes of rule 2 for the input bytes `data` of rule 1.
function M.run(data)
  local input = encoding.decode(data)
  local c, p = catalog.from_value(input.catalog), policy.from_value(input.policy)
  local out = {}
  for k = 1, #input.cases do
    out[k] = one(c, p, input.cases[k])
  end
  return encoding.encode(array(out))
end

return M
