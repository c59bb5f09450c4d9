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
-- 2. A built-in is stored as the canonical bytes of its policy value (what Python's
--    admission makes of builtin.py's document), generated into tables.lua; a test
--    checks the identity is the reference's.

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local policy = require("genvm_policy.policy")

local M = {}

local T = require("genvm_policy.tables").builtin

--- The names of the built-ins, in byte order.
M.NAMES = T.NAMES

--- The built-in policy `name`; `POL_VALUE` when there is none.
function M.builtin(name)
  local bytes = type(name) == "string" and T.VALUES[name] or nil
  if not bytes then
    errors.raise("POL_VALUE", {}, "no built-in policy `" .. tostring(name) .. "`",
      "built-ins: " .. table.concat(M.NAMES, ", "))
  end
  -- Decoded afresh on every call, so a caller may keep and change its value.
  return policy.from_value(encoding.decode(bytes))
end

return M
