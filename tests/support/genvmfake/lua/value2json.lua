-- Stand-in for GenVM's value2json.lua (GENVM.md §4), written for the fake.
-- Turns any Lua value into a JSON-able value: tables recurse (a table holding itself
-- recurses until the stack overflows, as the original does), userdata, functions and
-- threads become their `tostring` text, so logging never fails on host values.
local function convert(v)
  local t = type(v)
  if t == "table" then
    local out = {}
    for k, x in pairs(v) do
      out[type(k) == "number" and k or tostring(k)] = convert(x)
    end
    return out
  elseif t == "userdata" or t == "function" or t == "thread" then
    return tostring(v)
  end
  return v
end

return convert
