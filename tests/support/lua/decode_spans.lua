-- The spans the decoder records for the canonical bytes it is given, as "start:end" by key.
local data = ...
local spans = {}
require("genvm_policy.encoding").decode(data, spans)
local out = {}
for key, span in pairs(spans) do  -- order-free: read into a Python dict
  out[key] = span[1] .. ":" .. span[2]
end
return out
