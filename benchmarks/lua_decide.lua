-- Benchmark driver for the Lua runtime's decision (docs/SPEC.md §9), loaded into a
-- sandboxed lupa state. Python hands over canonical CBOR bytes (catalog, policy,
-- request values), the driver decodes them with the runtime's own decoder and
-- builds the runtime's values once; `decide_once` is then one full decision:
-- filter, score, select, and the parameters of the first attempt (0-based `0`).
local encoding = require("genvm_policy.encoding")
local catalog = require("genvm_policy.catalog")
local policy = require("genvm_policy.policy")
local request = require("genvm_policy.request")
local decision = require("genvm_policy.decision")

local driver = {}
local state = {}

function driver.setup(catalog_cbor, policy_cbor, request_cbor, catalog_id)
  state.catalog = catalog.from_value(encoding.decode(catalog_cbor))
  state.policy = policy.from_value(encoding.decode(policy_cbor))
  state.request = request.from_value(encoding.decode(request_cbor))
  -- As on the node, the catalog identity comes precomputed (the compiled policy records it).
  state.catalog_id = catalog_id
end

-- Seeds differ per call (as call keys do on the node) so no draw is replayed.
function driver.decide_once(seed)
  local d = decision.decide(state.catalog, state.policy, state.request, seed, state.catalog_id)
  decision.attempt_params(d, 0)
  return d
end

-- The decision identity, checked against Python's so a timing never covers a wrong answer.
function driver.identity(seed)
  return decision.identity(driver.decide_once(seed))
end

return driver
