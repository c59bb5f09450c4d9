-- The tabulate driver: a sequence of decisions against one catalog object, and the
-- fields of the bound policy, for the comparison of tabulated and spec-shaped runs.
local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local catalog = require("genvm_policy.catalog")
local policy = require("genvm_policy.policy")
local request = require("genvm_policy.request")
local decision = require("genvm_policy.decision")
local interpreter = require("genvm_policy.interpreter")
local tabulate = require("genvm_policy.tabulate")
local array, map = encoding.array, encoding.map

local D = {}

-- The report of each request in turn, decided against one catalog object with
-- an allowance of `tables`; a registered error as {error = {code, path}}.
function D.reports(blob, tables)
  local v = encoding.decode(blob)
  tabulate.TABLES = tables
  local c, p = catalog.from_value(v.catalog), policy.from_value(v.policy)
  local out = {}
  for k = 1, #v.requests do
    local ok, got = pcall(function()
      local d = decision.decide(c, p, request.from_value(v.requests[k]), v.seed[1])
      return decision.report(d)
    end)
    if not ok then
      if not errors.is_error(got) then error(got, 0) end
      got = map({ error = array({ got.code, array(got.path) }) })
    end
    out[k] = encoding.bytes(encoding.encode(got))
  end
  local ok, b = pcall(interpreter.bind, c, p)
  local keys = {}
  if ok then
    for key in pairs(b) do keys[#keys + 1] = key end  -- order-free: sorted below
    table.sort(keys, encoding.bytes_less)
  end
  return encoding.encode(map({ reports = array(out), bound = array(keys) }))
end

return D
