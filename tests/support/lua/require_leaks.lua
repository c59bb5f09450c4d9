-- The globals that requiring the module `genvm_policy.<name>` adds, comma-separated.
local name = ...
local before = {}
for k in pairs(_G) do before[k] = true end
require("genvm_policy." .. name)
local leaked = {}
for k in pairs(_G) do
  if not before[k] then leaked[#leaked + 1] = tostring(k) end
end
return table.concat(leaked, ",")
