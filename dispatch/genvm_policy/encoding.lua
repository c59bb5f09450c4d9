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
-- 6. Cost (docs/IMPLEMENTATION.md §4): the walkers keep one path stack indexed
--    by depth and copy it only on failure; map keys are ordered by
--    `key_less` on the key text, the encoded keys' order, without building
--    the encoded keys.
-- 7. Canonical input is the encoding of its value, so a byte range that
--    `decode` reports for a value is exactly `encode` of that value: a caller
--    may hash it instead of encoding again.
--
-- Values are the Lua representation of `genvm_policy.values`, whose names this
-- module re-exports (`encoding.array`, `encoding.null`, …).

local errors = require("genvm_policy.errors")
local values = require("genvm_policy.values")

local M = {}

--- The deepest a container may sit; the top-level item is at depth 1 (§2.1).
M.MAX_DEPTH = require("genvm_policy.tables").encoding.MAX_DEPTH

local MAX = require("genvm_policy.numeric").MAX
local MAX_DEPTH = M.MAX_DEPTH

local byte, char, find, pack, unpack, sub = string.byte, string.char, string.find,
  string.pack, string.unpack, string.sub
local mathtype, getmetatable, setmetatable = math.type, getmetatable, setmetatable

-- The data model's values (values.lua), re-exported as this module's.
M.null, M.array, M.map, M.bytes, M.kind = values.null, values.array, values.map, values.bytes,
  values.kind
M.bytes_less, M.valid_utf8, M.key_less = values.bytes_less, values.valid_utf8, values.key_less
local ARRAY, MAP, BYTES, null = values.ARRAY, values.MAP, values.BYTES, values.null
local bytes_less, valid_utf8, key_less = values.bytes_less, values.valid_utf8, values.key_less

-- Paths (rule 6): one stack per call, `path[d]` is the step into the item at
-- depth `d + 1`, so the item at depth `d` has the path `path[1 .. d - 1]`.
-- Stale steps past the current depth are harmless: only a failure copies, and
-- only up to its own depth.
local function fail(code, path, depth, message, hint)
  errors.raise(code, table.move(path, 1, depth - 1, 1, {}), message, hint)
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

local function check_text(s, path, depth)
  if not valid_utf8(s) then
    fail("CBOR_TEXT", path, depth, "text is not valid UTF-8")
  end
end

local function check_depth(depth, path)
  if depth > MAX_DEPTH then
    fail("CBOR_DEPTH", path, depth, "containers nest deeper than " .. MAX_DEPTH)
  end
end

-- Each writer appends to `buf` after its `n` pieces and returns the new count.
local encode_into

local function encode_map(buf, n, v, path, depth)
  local keys, count = {}, 0
  -- `next` visits keys in the state's hash order; the sort below removes it.
  local k = next(v)
  while k ~= nil do
    if type(k) ~= "string" then
      fail("CBOR_KEY", path, depth, "a map key is not text")
    end
    count = count + 1
    keys[count] = k
    k = next(v, k)
  end
  for i = 1, count do
    check_text(keys[i], path, depth)
  end
  table.sort(keys, key_less)
  n = n + 1
  buf[n] = head(5, count)
  for i = 1, count do
    k = keys[i]
    buf[n + 1], buf[n + 2] = head(3, #k), k
    path[depth] = k
    n = encode_into(buf, n + 2, v[k], path, depth + 1)
  end
  return n
end

function encode_into(buf, n, v, path, depth)
  local t = type(v)
  if t == "string" then
    check_text(v, path, depth)
    buf[n + 1], buf[n + 2] = head(3, #v), v
    return n + 2
  elseif mathtype(v) == "integer" then
    if v < -MAX or v > MAX then
      fail("CBOR_RANGE", path, depth, "`" .. v .. "` is outside ±(2^53 − 1)")
    end
    buf[n + 1] = v >= 0 and head(0, v) or head(1, -1 - v)
    return n + 1
  elseif t == "boolean" then
    buf[n + 1] = v and "\245" or "\244"
    return n + 1
  elseif v == null then
    buf[n + 1] = "\246"
    return n + 1
  end
  local mt = t == "table" and getmetatable(v)
  if mt == BYTES then
    buf[n + 1], buf[n + 2] = head(2, #v[1]), v[1]
    return n + 2
  elseif mt == ARRAY then
    check_depth(depth, path)
    local count = #v
    n = n + 1
    buf[n] = head(4, count)
    for i = 1, count do
      path[depth] = i - 1
      n = encode_into(buf, n, v[i], path, depth + 1)
    end
    return n
  elseif mt == MAP then
    check_depth(depth, path)
    return encode_map(buf, n, v, path, depth)
  end
  fail("CBOR_TYPE", path, depth,
    "a value outside the data model (floats and other kinds have no canonical form)",
    t == "table" and "tag a table with encoding.array or encoding.map" or nil)
end

--- The canonical bytes of `value` (§2.2). Raises `CBOR_TYPE`, `CBOR_RANGE`,
--- `CBOR_TEXT`, `CBOR_KEY` or `CBOR_DEPTH` with the path of the offending item.
function M.encode(value)
  local buf = {}
  encode_into(buf, 0, value, {}, 1)
  return table.concat(buf)
end

-- -- decode ----------------------------------------------------------------

local SIMPLE = { [0xF4] = false, [0xF5] = true, [0xF6] = null }
-- Majors where an indefinite length is not even well-formed: uint, nint, tag, simple.
local NO_INDEFINITE = { [0] = true, [1] = true, [6] = true, [7] = true }

-- An argument of 2^53 or more, which no integer or length of the model has.
local HUGE = -1

local function truncated(path, depth)
  fail("CBOR_TRUNCATED", path, depth, "the input ends inside an item")
end

local function non_canonical(path, depth, n)
  fail("CBOR_NON_CANONICAL", path, depth, "`" .. n .. "` is not written in its shortest form")
end

-- The head of the item at `pos`: its major type, its argument (the initial byte
-- for false, true, null; HUGE past 2^53 − 1) and the position after the head.
-- Steps 1-4 of §2.5, in that order.
local function read_head(s, pos, path, depth)
  local ib = byte(s, pos)
  if ib == nil then
    truncated(path, depth)
  end
  local major, info = ib >> 5, ib & 31
  if (info >= 28 and info <= 30) or (info == 31 and NO_INDEFINITE[major]) then
    fail("CBOR_MALFORMED", path, depth, string.format("byte `0x%02x` is not well-formed", ib))
  elseif info == 31 then
    fail("CBOR_NON_CANONICAL", path, depth, "an indefinite length is not canonical")
  elseif major == 6 then
    fail("CBOR_UNSUPPORTED", path, depth, "tags are outside the data model")
  elseif major == 7 then
    if SIMPLE[ib] == nil then
      fail("CBOR_UNSUPPORTED", path, depth, info >= 25 and "floats are outside the data model"
        or "simple values other than false, true, null are outside the data model")
    end
    return major, ib, pos + 1
  elseif info < 24 then
    return major, info, pos + 1
  end
  -- Additional information 24 … 27: 1, 2, 4 or 8 argument bytes, each width
  -- with a floor below which a shorter form exists.
  local width = 1 << (info - 24)
  if pos + width > #s then
    truncated(path, depth)
  end
  local n
  if info == 24 then
    n = byte(s, pos + 1)
    if n < 24 then non_canonical(path, depth, n) end
  elseif info == 25 then
    n = unpack(">I2", s, pos + 1)
    if n < 0x100 then non_canonical(path, depth, n) end
  elseif info == 26 then
    n = unpack(">I4", s, pos + 1)
    if n < 0x10000 then non_canonical(path, depth, n) end
  else
    -- Two 32-bit halves: ">I8" reads values of 2^63 and up as negative.
    local hi, lo = unpack(">I4I4", s, pos + 1)
    if hi == 0 then non_canonical(path, depth, lo) end
    n = hi > 0x1FFFFF and HUGE or (hi << 32) | lo
  end
  return major, n, pos + 1 + width
end

-- The `n` bytes at `pos`, checked as UTF-8 when `text`, and the position after
-- them. The pattern scan skips `valid_utf8` for ASCII, nearly every text here.
local function take(s, pos, n, path, depth, text)
  if n == HUGE or n > #s - pos + 1 then
    truncated(path, depth)
  end
  local raw = sub(s, pos, pos + n - 1)
  if text and find(raw, "[\128-\255]") and not valid_utf8(raw) then
    fail("CBOR_TEXT", path, depth, "text is not valid UTF-8")
  end
  return raw, pos + n
end

local decode_item

-- `spans`, given for the top-level map only, receives each value's byte range.
local function decode_map(s, pos, count, path, depth, spans)
  local out = setmetatable({}, MAP)
  local previous, size = nil, -1
  for _ = 1, count do
    local ib = byte(s, pos)
    if ib == nil then
      truncated(path, depth)
    end
    -- The key's major type is checked first, so no other key item is ever read.
    if ib >> 5 ~= 3 then
      fail("CBOR_KEY", path, depth, "a map key is not text")
    end
    local _, n, key
    if ib < 0x78 then
      n, pos = ib & 31, pos + 1
    else
      _, n, pos = read_head(s, pos, path, depth)
    end
    key, pos = take(s, pos, n, path, depth, true)
    path[depth] = key
    -- Encoded keys compare as (length, bytes) (key_less), so no bytes are re-read.
    n = #key
    if key == previous then
      fail("CBOR_DUPLICATE_KEY", path, depth + 1, "key `" .. key .. "` appears twice")
    elseif n < size or n == size and bytes_less(key, previous) then
      fail("CBOR_NON_CANONICAL", path, depth + 1, "key `" .. key .. "` is out of canonical order")
    end
    previous, size = key, n
    if spans then
      local first = pos
      out[key], pos = decode_item(s, pos, path, depth + 1)
      spans[key] = { first, pos - 1 }
    else
      out[key], pos = decode_item(s, pos, path, depth + 1)
    end
  end
  return out, pos
end

function decode_item(s, pos, path, depth, spans)
  local ib = byte(s, pos)
  local major, n
  -- Majors 0 … 5 with an argument below 24 need none of read_head's checks.
  if ib and ib < 0xC0 and ib & 31 < 24 then
    major, n, pos = ib >> 5, ib & 31, pos + 1
  else
    major, n, pos = read_head(s, pos, path, depth)
  end
  if major == 3 then
    return take(s, pos, n, path, depth, true)
  elseif major <= 1 then
    -- Major 1 holds -1 - n, which must stay at or above -MAX: n <= MAX - 1.
    if n == HUGE or n > MAX - major then
      fail("CBOR_RANGE", path, depth, "an integer is outside ±(2^53 − 1)")
    end
    return major == 0 and n or -1 - n, pos
  elseif major == 7 then
    return SIMPLE[n], pos
  elseif major == 2 then
    local raw, after = take(s, pos, n, path, depth)
    return setmetatable({ raw }, BYTES), after
  end
  check_depth(depth, path)
  -- Every item takes at least one byte (a map entry two): a count beyond
  -- what is left is cut short.
  if n == HUGE or n * (major == 5 and 2 or 1) > #s - pos + 1 then
    truncated(path, depth)
  end
  if major == 5 then
    return decode_map(s, pos, n, path, depth, spans)
  end
  local out = setmetatable({}, ARRAY)
  local child = depth + 1
  for i = 1, n do
    path[depth] = i - 1
    out[i], pos = decode_item(s, pos, path, child)
  end
  return out, pos
end

--- The value of the canonical bytes `s` (§2.3); rejects anything `encode`
--- would not write. Raises `CBOR_TRUNCATED`, `CBOR_TRAILING`,
--- `CBOR_MALFORMED`, `CBOR_NON_CANONICAL`, `CBOR_UNSUPPORTED`, `CBOR_RANGE`,
--- `CBOR_TEXT`, `CBOR_KEY`, `CBOR_DUPLICATE_KEY` or `CBOR_DEPTH` with the
--- path of the offending item. When the value is a map and the table `spans`
--- is given, `spans[key]` is set to `{first, last}`, the byte range of that
--- key's value in `s` (rule 7).
function M.decode(s, spans)
  local value, pos = decode_item(s, 1, {}, 1, spans)
  if pos <= #s then
    errors.raise("CBOR_TRAILING", {}, (#s - pos + 1) .. " bytes follow the single top-level item")
  end
  return value
end

return M
