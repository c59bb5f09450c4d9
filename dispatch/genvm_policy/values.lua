--- Values of the canonical data model in Lua, and their byte orders.
--
-- Spec: docs/SPEC.md §2 (Canonical encoding), the data model. The Lua runtime's
-- own module: Python holds these values in its native types. `encoding`
-- re-exports every public name here, so callers use `encoding.array`, ….
--
-- Lua has one table type and no null, so values are represented as:
--   integer      a Lua integer (a float, even 3.0, is outside the model)
--   text         a Lua string (the common case, so it carries no wrapper)
--   byte string  `bytes(s)`: a one-slot table `{s}` with the metatable BYTES
--   array        a table tagged by `array(t)`: elements t[1] … t[#t]
--   map          a table tagged by `map(t)`: string keys to values
--   null         the unique sentinel `null` (nil cannot sit in a table)
--   true/false   Lua booleans
-- Tags are metatables: tagging costs one `setmetatable`, testing one
-- `getmetatable`, and a tagged table is indexed like any other. An untagged
-- table is `CBOR_TYPE`: an empty `{}` could be either container, and a guess
-- would let runtimes disagree. `decode` returns tagged values.

local M = {}

local byte, find = string.byte, string.find
local mathtype, getmetatable, setmetatable = math.type, getmetatable, setmetatable

--- The tags (see the representation above); `__name` only helps debugging.
--- `encoding` tags the containers it decodes with them.
M.ARRAY, M.MAP, M.BYTES = { __name = "array" }, { __name = "map" }, { __name = "bytes" }
local ARRAY, MAP, BYTES = M.ARRAY, M.MAP, M.BYTES

--- The null value.
M.null = setmetatable({}, { __name = "null", __tostring = function() return "null" end })
local null = M.null

--- Tag the table `t` as an array and return it.
function M.array(t)
  return setmetatable(t, ARRAY)
end

--- Tag the table `t` as a map and return it.
function M.map(t)
  return setmetatable(t, MAP)
end

--- Wrap the Lua string `s` as a byte string.
function M.bytes(s)
  return setmetatable({ s }, BYTES)
end

--- The model's name for `v`: "integer", "text", "bytes", "array", "map",
--- "boolean", "null", or nil for a value outside the model.
function M.kind(v)
  local t = type(v)
  if t == "table" then
    local mt = getmetatable(v)
    return v == null and "null" or mt == BYTES and "bytes" or mt == ARRAY and "array"
      or mt == MAP and "map" or nil
  end
  return t == "string" and "text" or t == "boolean" and t or mathtype(v) == "integer" and "integer"
    or nil
end

--- True when the byte string `a` sorts before `b`: the first differing byte
--- decides and a proper prefix sorts first (a total order, locale-free).
function M.bytes_less(a, b)
  local na, nb = #a, #b
  local n = na < nb and na or nb
  for i = 1, n do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return na < nb
end

local bytes_less = M.bytes_less

--- True when `s` is well-formed UTF-8: shortest forms, no surrogates, at
--- most U+10FFFF (RFC 3629).
function M.valid_utf8(s)
  local i = find(s, "[\128-\255]")
  while i do
    local c, c2, c3, c4 = byte(s, i, i + 3)
    if c >= 0xC2 and c <= 0xDF then
      if not c2 or c2 < 0x80 or c2 > 0xBF then
        return false
      end
      i = i + 2
    elseif c >= 0xE0 and c <= 0xEF then
      -- E0 needs A0…BF (no overlong forms); ED needs 80…9F (no surrogates).
      local lo = c == 0xE0 and 0xA0 or 0x80
      local hi = c == 0xED and 0x9F or 0xBF
      if not c3 or c2 < lo or c2 > hi or c3 < 0x80 or c3 > 0xBF then
        return false
      end
      i = i + 3
    elseif c >= 0xF0 and c <= 0xF4 then
      -- F0 needs 90…BF (no overlong forms); F4 needs 80…8F (at most U+10FFFF).
      local lo = c == 0xF0 and 0x90 or 0x80
      local hi = c == 0xF4 and 0x8F or 0xBF
      if not c4 or c2 < lo or c2 > hi or c3 < 0x80 or c3 > 0xBF or c4 < 0x80 or c4 > 0xBF then
        return false
      end
      i = i + 4
    else
      return false
    end
    i = find(s, "[\128-\255]", i)
  end
  return true
end

--- True when the text key `a` is written before `b` in a canonical map: the
--- encoded keys' byte order, which for text is shorter first, then bytes
--- (a head's bytes grow with the length it holds).
function M.key_less(a, b)
  local na, nb = #a, #b
  if na ~= nb then
    return na < nb
  end
  return bytes_less(a, b)
end

return M
