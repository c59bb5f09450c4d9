-- Stand-in for GenVM's lib-genvm.lua (GENVM.md §4), written for the fake.
local value2json = require("value2json")

local LINE = "@LINE@"
local M = {}

M.rs = __dflt

-- Log any value: host values are turned into text first, then handed to the logger.
function M.log(t)
  __dflt.log_json(value2json(t))
end

-- The first entry `pairs` gives: host-order dependent, which is why hooks must not use it.
function M.get_first_from_table(t)
  if t == nil then return nil end
  for k, v in pairs(t) do
    return { key = k, value = v }
  end
  return nil
end

function M.get_first_from_table_assert(t)
  local got = M.get_first_from_table(t)
  if got == nil then
    error("table is empty", 2)
  end
  return got
end

-- Re-raise `e` with the given fatality; a non-module error goes up unchanged.
function M.reraise_with_fatality(e, fatal)
  local decoded = __dflt.as_user_error(e)
  if decoded == nil then
    error(e, 0)
  end
  __dflt.user_error({ causes = decoded.causes, fatal = fatal, ctx = decoded.ctx })
end

if LINE == "v2" then
  -- Scale a number in [0, 1) onto the integers lo .. hi.
  function M.map_01_to_range(x, lo, hi)
    return lo + math.floor(x * (hi - lo + 1))
  end
end

return M
