-- The engine driver: the Lua policy engine behind one call per concept, for the tests
-- that compare it with the Python reference (tests/support/engine.py builds the inputs).
-- Every function takes and returns canonical CBOR bytes; a registered error comes back
-- as {error = {code, path}} so both sides compare the same pair.
local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local catalog = require("genvm_policy.catalog")
local policy = require("genvm_policy.policy")
local request = require("genvm_policy.request")
local decision = require("genvm_policy.decision")
local cascade = require("genvm_policy.cascade")
local builtin = require("genvm_policy.builtin")
local array, map = encoding.array, encoding.map

-- Run `f`; a registered error becomes {error = {code, path}}, anything else re-raises.
local function guarded(f, ...)
  local ok, result = pcall(f, ...)
  if ok then
    return encoding.encode(result)
  end
  if not errors.is_error(result) then
    error(result, 0)
  end
  return encoding.encode(map({ error = array({ result.code, array(result.path) }) }))
end

local function inputs(v)
  return catalog.from_value(v.catalog), policy.from_value(v.policy),
    request.from_value(v.request), v.seed[1]
end

local D = {}

function D.report(blob)
  return guarded(function()
    local c, p, r, seed = inputs(encoding.decode(blob))
    return decision.report(decision.decide(c, p, r, seed))
  end)
end

-- Cascade over outcomes[n] for the n-th call (then success); also the waits.
function D.cascade(blob)
  return guarded(function()
    local v = encoding.decode(blob)
    local c, p, r, seed = inputs(v)
    local d = decision.decide(c, p, r, seed)
    local n, waits = 0, {}
    local function call(a)
      n = n + 1
      local o = v.outcomes[n]
      if o == nil then
        return cascade.success(a.provider .. "/" .. a.model)
      end
      -- Statuses arrive as floats from GenVM: exercise the normalisation.
      local status = o[2] ~= encoding.null and o[2] + 0.0 or nil
      return cascade.failure(o[1], status)
    end
    local out = cascade.run(d, call, function(ms) waits[#waits + 1] = ms end)
    local trace = {}
    for i = 1, #out.trace do
      local s = out.trace[i]
      trace[i] = array({ s.attempt, s.provider, s.model, s.result, s.action })
    end
    return map({ ok = out.ok, data = out.data or encoding.null,
      error_class = out.error_class or encoding.null, code = out.code or encoding.null,
      trace = array(trace), waits = array(waits) })
  end)
end

function D.policy(blob)
  return guarded(function()
    return policy.policy_identity(policy.from_value(encoding.decode(blob)))
  end)
end

function D.catalog(blob)
  return guarded(function()
    return #catalog.from_value(encoding.decode(blob)).routes
  end)
end

function D.builtin(name)
  return guarded(function()
    local p = builtin.builtin(name)
    local raw = encoding.bytes(encoding.encode(policy.policy_value(p)))
    return array({ raw, policy.policy_identity(p) })
  end)
end

function D.codes()
  local out = {}
  for code in pairs(errors.CODES) do
    out[#out + 1] = code
  end
  table.sort(out, encoding.bytes_less)
  return encoding.encode(array(out))
end

-- The Lua runtime's canonical request reader, in the driver's own terms.
function D.request(blob)
  return guarded(function()
    return request.request_value(request.from_value(encoding.decode(blob)))
  end)
end

return D
