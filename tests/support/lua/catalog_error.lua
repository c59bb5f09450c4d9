-- The (code, path) the catalog reader raises on the canonical bytes it is given; "ok" and
-- an empty path when it accepts them.
local raw = ...
local ok, e = pcall(function()
  return require("genvm_policy.catalog").from_value(
    require("genvm_policy.encoding").decode(raw))
end)
if ok then return "ok", {} end
return e.code, e.path
