--- Canonical encoding: RFC 8949 §4.2.1 core deterministic CBOR over a small model.
--
-- Spec: docs/SPEC.md §2 (Canonical encoding). Mirrors genvm_policy/encoding.py.
--
-- Rules:
-- 1. Data model: integers in [-MAX, MAX], UTF-8 text, byte strings, arrays,
--    maps with unique text keys, true, false, null. Nothing else.
-- 2. `encode` writes every argument in its shortest form, definite lengths,
--    and map entries sorted by the bytes of their encoded keys, compared
--    byte by byte here (never with string `<`, which follows the C locale).
-- 3. `decode` accepts exactly the bytes `encode` writes; each rejection has
--    the reference's (code, path), the checks running in the order of §2.5.
--    Text is checked for UTF-8, not NFC (§2.6), so `CBOR_NFC` never comes
--    from here.
-- 4. Containers nest at most `MAX_DEPTH` deep: the top-level item is at depth 1.
-- 5. In a map, every key is checked to be text (`CBOR_KEY`), then UTF-8
--    (`CBOR_TEXT`), before any value; both errors carry the map's path.
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

local errors = require("genvm_policy.errors")

local M = {}

--- The deepest a container may sit; the top-level item is at depth 1 (§2.1).
M.MAX_DEPTH = 64

local MAX = require("genvm_policy.numeric").MAX
local MAX_DEPTH = M.MAX_DEPTH

local byte, char, find, pack, unpack, sub = string.byte, string.char, string.find,
  string.pack, string.unpack, string.sub
local mathtype, getmetatable, setmetatable = math.type, getmetatable, setmetatable

-- The tags (see the representation above); `__name` only helps debugging.
local ARRAY, MAP, BYTES = { __name = "array" }, { __name = "map" }, { __name = "bytes" }

--- The null value.
M.null = setmetatable({}, { __name = "null", __tostring = function() return "null" end })
local null = M.null

-- -- values ----------------------------------------------------------------

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

local valid_utf8 = M.valid_utf8

-- The path stack is shared and mutated while walking; an error keeps a copy.
local function fail(code, path, message, hint)
  errors.raise(code, table.move(path, 1, #path, 1, {}), message, hint)
end

-- -- encode ----------------------------------------------------------------

-- The initial byte and shortest argument of an item of `major` type.
local function head(major, n)
  local ib = major << 5
  if n < 24 then
    return char(ib | n)
  elseif n < 0x100 then
    return char(ib | 24, n)
  elseif n < 0x10000 then
    return pack(">BI2", ib | 25, n)
  elseif n < 0x100000000 then
    return pack(">BI4", ib | 26, n)
  end
  return pack(">BI8", ib | 27, n)
end

local function check_text(s, path)
  if not valid_utf8(s) then
    fail("CBOR_TEXT", path, "text is not valid UTF-8")
  end
end

local function check_depth(depth, path)
  if depth > MAX_DEPTH then
    fail("CBOR_DEPTH", path, "containers nest deeper than " .. MAX_DEPTH)
  end
end

local function entry_less(x, y)
  return bytes_less(x[1], y[1])
end

local encode_into

local function encode_map(buf, v, path, depth)
  local keys, entries = {}, {}
  -- `next` visits keys in the state's hash order; the sort below removes it.
  local k = next(v)
  while k ~= nil do
    if type(k) ~= "string" then
      fail("CBOR_KEY", path, "a map key is not text")
    end
    keys[#keys + 1] = k
    k = next(v, k)
  end
  for i = 1, #keys do
    check_text(keys[i], path)
    entries[i] = { head(3, #keys[i]) .. keys[i], keys[i] }
  end
  table.sort(entries, entry_less)
  buf[#buf + 1] = head(5, #entries)
  for i = 1, #entries do
    local e = entries[i]
    buf[#buf + 1] = e[1]
    path[#path + 1] = e[2]
    encode_into(buf, v[e[2]], path, depth + 1)
    path[#path] = nil
  end
end

function encode_into(buf, v, path, depth)
  local t = type(v)
  if t == "string" then
    check_text(v, path)
    buf[#buf + 1] = head(3, #v)
    buf[#buf + 1] = v
  elseif mathtype(v) == "integer" then
    if v < -MAX or v > MAX then
      fail("CBOR_RANGE", path, "`" .. v .. "` is outside ±(2^53 − 1)")
    end
    buf[#buf + 1] = v >= 0 and head(0, v) or head(1, -1 - v)
  elseif t == "boolean" then
    buf[#buf + 1] = v and "\245" or "\244"
  elseif v == null then
    buf[#buf + 1] = "\246"
  else
    local mt = t == "table" and getmetatable(v)
    if mt == BYTES then
      buf[#buf + 1] = head(2, #v[1])
      buf[#buf + 1] = v[1]
    elseif mt == ARRAY then
      check_depth(depth, path)
      local n = #v
      buf[#buf + 1] = head(4, n)
      for i = 1, n do
        path[#path + 1] = i - 1
        encode_into(buf, v[i], path, depth + 1)
        path[#path] = nil
      end
    elseif mt == MAP then
      check_depth(depth, path)
      encode_map(buf, v, path, depth)
    else
      fail("CBOR_TYPE", path,
        "a value outside the data model (floats and other kinds have no canonical form)",
        t == "table" and "tag a table with encoding.array or encoding.map" or nil)
    end
  end
end

--- The canonical bytes of `value` (§2.2). Raises `CBOR_TYPE`, `CBOR_RANGE`,
--- `CBOR_TEXT`, `CBOR_KEY` or `CBOR_DEPTH` with the path of the offending item.
function M.encode(value)
  local buf = {}
  encode_into(buf, value, {}, 1)
  return table.concat(buf)
end

-- -- decode ----------------------------------------------------------------

-- Additional information 24 … 26: the argument's format and width, and the
-- floor below which a shorter form exists (non-canonical). 27 is read apart.
local ARGUMENTS = { [24] = { ">B", 1, 24 }, [25] = { ">I2", 2, 0x100 }, [26] = { ">I4", 4, 0x10000 } }
local SIMPLE = { [0xF4] = false, [0xF5] = true, [0xF6] = null }
-- Majors where an indefinite length is not even well-formed: uint, nint, tag, simple.
local NO_INDEFINITE = { [0] = true, [1] = true, [6] = true, [7] = true }

-- An argument of 2^53 or more, which no integer or length of the model has.
local HUGE = -1

local function truncated(path)
  fail("CBOR_TRUNCATED", path, "the input ends inside an item")
end

-- The head of the item at `pos`: its major type, its argument (the initial byte
-- for false, true, null; HUGE past 2^53 − 1) and the position after the head.
local function read_head(s, pos, path)
  local ib = byte(s, pos)
  if ib == nil then
    truncated(path)
  end
  local major, info = ib >> 5, ib & 31
  if (info >= 28 and info <= 30) or (info == 31 and NO_INDEFINITE[major]) then
    fail("CBOR_MALFORMED", path, string.format("byte `0x%02x` is not well-formed", ib))
  elseif info == 31 then
    fail("CBOR_NON_CANONICAL", path, "an indefinite length is not canonical")
  elseif major == 6 then
    fail("CBOR_UNSUPPORTED", path, "tags are outside the data model")
  elseif major == 7 then
    if SIMPLE[ib] == nil then
      fail("CBOR_UNSUPPORTED", path, info >= 25 and "floats are outside the data model"
        or "simple values other than false, true, null are outside the data model")
    end
    return major, ib, pos + 1
  elseif info < 24 then
    return major, info, pos + 1
  end
  local format, width, floor = table.unpack(ARGUMENTS[info] or { nil, 8 })
  if pos + width > #s then
    truncated(path)
  end
  if info == 27 then
    -- Two 32-bit halves: ">I8" reads values of 2^63 and up as negative.
    local hi, lo = unpack(">I4I4", s, pos + 1)
    if hi == 0 then
      fail("CBOR_NON_CANONICAL", path, "`" .. lo .. "` is not written in its shortest form")
    end
    return major, hi > 0x1FFFFF and HUGE or (hi << 32) | lo, pos + 9
  end
  local n = unpack(format, s, pos + 1)
  if n < floor then
    fail("CBOR_NON_CANONICAL", path, "`" .. n .. "` is not written in its shortest form")
  end
  return major, n, pos + 1 + width
end

-- The `n` bytes at `pos` (checked as UTF-8 when `text`), and the position after them.
local function take(s, pos, n, path, text)
  if n == HUGE or n > #s - pos + 1 then
    truncated(path)
  end
  local raw = sub(s, pos, pos + n - 1)
  if text then
    check_text(raw, path)
  end
  return raw, pos + n
end

local decode_item

local function decode_map(s, pos, count, path, depth)
  local out = setmetatable({}, MAP)
  local previous = ""
  for _ = 1, count do
    local start = pos
    local ib = byte(s, pos)
    if ib == nil then
      truncated(path)
    end
    -- The key's major type is checked first, so no other key item is ever read.
    if ib >> 5 ~= 3 then
      fail("CBOR_KEY", path, "a map key is not text")
    end
    local _, n, key
    _, n, pos = read_head(s, pos, path)
    key, pos = take(s, pos, n, path, true)
    local encoded = sub(s, start, pos - 1)
    path[#path + 1] = key
    if encoded == previous then
      fail("CBOR_DUPLICATE_KEY", path, "key `" .. key .. "` appears twice")
    elseif bytes_less(encoded, previous) then
      fail("CBOR_NON_CANONICAL", path, "key `" .. key .. "` is out of canonical order")
    end
    previous = encoded
    out[key], pos = decode_item(s, pos, path, depth + 1)
    path[#path] = nil
  end
  return out, pos
end

function decode_item(s, pos, path, depth)
  local major, n
  major, n, pos = read_head(s, pos, path)
  if major <= 1 then
    -- Major 1 holds -1 - n, which must stay at or above -MAX: n <= MAX - 1.
    if n == HUGE or n > MAX - major then
      fail("CBOR_RANGE", path, "an integer is outside ±(2^53 − 1)")
    end
    return major == 0 and n or -1 - n, pos
  elseif major == 2 then
    local raw, after = take(s, pos, n, path)
    return setmetatable({ raw }, BYTES), after
  elseif major == 3 then
    return take(s, pos, n, path, true)
  elseif major == 7 then
    return SIMPLE[n], pos
  end
  check_depth(depth, path)
  -- Every item takes at least one byte (a map entry two): a count beyond
  -- what is left is cut short.
  if n == HUGE or n * (major == 5 and 2 or 1) > #s - pos + 1 then
    truncated(path)
  end
  if major == 5 then
    return decode_map(s, pos, n, path, depth)
  end
  local out = setmetatable({}, ARRAY)
  for i = 1, n do
    path[#path + 1] = i - 1
    out[i], pos = decode_item(s, pos, path, depth + 1)
    path[#path] = nil
  end
  return out, pos
end

--- The value of the canonical bytes `s` (§2.3); rejects anything `encode`
--- would not write. Raises `CBOR_TRUNCATED`, `CBOR_TRAILING`,
--- `CBOR_MALFORMED`, `CBOR_NON_CANONICAL`, `CBOR_UNSUPPORTED`, `CBOR_RANGE`,
--- `CBOR_TEXT`, `CBOR_KEY`, `CBOR_DUPLICATE_KEY` or `CBOR_DEPTH` with the
--- path of the offending item.
function M.decode(s)
  local value, pos = decode_item(s, 1, {}, 1)
  if pos <= #s then
    errors.raise("CBOR_TRAILING", {}, (#s - pos + 1) .. " bytes follow the single top-level item")
  end
  return value
end

return M
