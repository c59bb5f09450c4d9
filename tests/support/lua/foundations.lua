-- Helpers for the foundation tests. Lua strings holding raw bytes cannot cross into
-- Python (lupa decodes them as UTF-8), so these hand bytes back as hex and errors as tuples.
local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local H = {}
function H.hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
function H.call(f, ...)
  local result = table.pack(pcall(f, ...))
  if result[1] then
    return "ok", table.unpack(result, 2, result.n)
  end
  local e = result[2]
  if not errors.is_error(e) then
    return "crash", tostring(e)
  end
  return "error", e.code, e.path
end
function H.hexcall(f, ...)
  local status, a, b = H.call(f, ...)
  if status == "ok" then
    return status, H.hex(a)
  end
  return status, a, b
end
function H.len(t) return #t end
function H.first(t) return t[1] end
function H.mathtype(x) return math.type(x) end
return H
