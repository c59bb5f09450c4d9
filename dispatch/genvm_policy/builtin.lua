--- Built-in policies, named so the hook can use them without a file.
--
-- Spec: docs/SPEC.md §9.3 (The stock-greybox policy). Mirrors
-- genvm_policy/builtin.py.
--
-- Rules:
-- 1. `stock-greybox` reproduces the node's stock greybox behaviour: the
--    `meta.greybox` chain, the capability filter, next route on an
--    overloaded status and stop on anything else; no mutation, so every
--    request carries exactly the stock text and model flags (SPEC §8.4); 8 attempts.
-- 2. A built-in is stored here as its canonical policy value (what Python's
--    admission makes of builtin.py's document); a test checks the bytes and
--    the identity are the reference's.

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local policy = require("genvm_policy.policy")

local M = {}

local array, map = encoding.array, encoding.map

local function abort()
  return array({ "abort" })
end

-- name -> a function building a fresh canonical value (callers may keep it).
local BUILTINS = {
  ["stock-greybox"] = function()
    return map({
      version = policy.VERSION,
      filter = array({ "needs" }),
      score = array({ "const", 0 }),
      select = array({ "stock" }),
      mutate = array({}),
      on_failure = map({
        rate_limited = array({ "next" }), unavailable = array({ "next" }),
        timeout = array({ "next" }), auth = abort(), bad_request = abort(),
        not_found = abort(), context_overflow = abort(), content_filter = abort(),
        server = abort(), network = abort(), non_user = abort(), unknown = abort(),
      }),
      max_attempts = 8,
    })
  end,
}

--- The names of the built-ins, in byte order.
M.NAMES = { "stock-greybox" }

--- The built-in policy `name`; `POL_VALUE` when there is none.
function M.builtin(name)
  local build = BUILTINS[name]
  if not build then
    errors.raise("POL_VALUE", {}, "no built-in policy `" .. tostring(name) .. "`",
      "built-ins: " .. table.concat(M.NAMES, ", "))
  end
  return policy.from_value(build())
end

return M
