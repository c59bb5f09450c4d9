-- The readers driver: read a host value with one reader of the Lua core; a registered
-- error becomes its (code, path) value, anything else is a crash the test reports.
local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local readers = {
  catalog = function(v)
    return require("genvm_policy.catalog").from_value(v).value
  end,
  policy = function(v)
    return require("genvm_policy.policy").from_value(v).value
  end,
  request = function(v)
    local request = require("genvm_policy.request")
    return request.request_value(request.from_value(v))
  end,
}
local D = {}
function D.read(name, v)
  local ok, result = pcall(readers[name], v)
  if ok then
    return "ok", result
  elseif errors.is_error(result) then
    return "error", errors.as_value(result)
  end
  return "crash", tostring(result)
end
D.array, D.map, D.bytes, D.null, D.kind = encoding.array, encoding.map, encoding.bytes,
  encoding.null, encoding.kind
return D
