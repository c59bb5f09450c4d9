--- Model families: which routes serve the same model, without an overlay.
--
-- Spec: docs/SPEC.md §5.8 (Model families). Mirrors genvm_policy/family.py:
-- the same `TABLE` and the same numbered rules, in the same order; the
-- `family` vectors replay both, and their `table` case pins the table.
--
-- Rules (applied in this order to `(provider, model)`):
-- 1. Fold case: ASCII `A`-`Z` only (a byte-wise table, never `string.lower`,
--    whose result follows the C locale).
-- 2. A `:tag` ending whose tag is in `TABLE.tags` is removed, once.
-- 3. A router of `TABLE.routers` has the family `unknown` (`UNKNOWN`), looked
--    up here and again after rule 5.
-- 4. The provider's own prefix `<provider>/` is removed when something follows.
-- 5. One vendor prefix of `TABLE.vendors` is removed when something follows.
-- 6. `@` becomes `-`; the name is split at every `-` into segments.
-- 7. While more than one segment is left, trailing date stamps (8 digits
--    starting `20`; 4 digits; or 4-2-2 digits starting `20` with a segment
--    before them) and trailing `TABLE.suffixes` segments are removed.
-- 8. A segment of 1 or 2 digits after the first, followed by one of 1 or 2
--    digits, is joined to it with `.`; the scan goes on after the pair.
-- 9. The segments joined with `-` are the family; when that is empty, the
--    name as it stood after rule 5.

local M = {}

M.UNKNOWN = require("genvm_policy.tables").family.UNKNOWN

-- The data of rules 2, 3, 5 and 7; each list in bytes order: family.py's table,
-- generated into tables.lua.
M.TABLE = require("genvm_policy.tables").family.TABLE

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local VENDORS, ROUTERS = set_of(M.TABLE.vendors), set_of(M.TABLE.routers)
local TAGS, SUFFIXES = set_of(M.TABLE.tags), set_of(M.TABLE.suffixes)

local LOWER = {}
for b = 65, 90 do LOWER[string.char(b)] = string.char(b + 32) end

local function fold(text)
  return (string.gsub(text, "[A-Z]", LOWER))
end

local function digits(segment, lo, hi)
  return #segment >= lo and #segment <= hi and string.find(segment, "^[0-9]+$") ~= nil
end

local function strip_prefix(name, prefix)
  local head = prefix .. "/"
  if #name > #head and string.sub(name, 1, #head) == head then
    return string.sub(name, #head + 1)
  end
  return name
end

-- How many trailing segments form a date stamp (rule 7), 0 when none.
local function date_segments(segments)
  local n = #segments
  local last = segments[n]
  if digits(last, 8, 8) and string.sub(last, 1, 2) == "20" then return 1 end
  if digits(last, 4, 4) then return 1 end
  if n > 3 and digits(segments[n - 2], 4, 4) and string.sub(segments[n - 2], 1, 2) == "20"
      and digits(segments[n - 1], 2, 2) and digits(last, 2, 2) then
    return 3
  end
  return 0
end

local function split(name)
  local segments, start = {}, 1
  while true do
    local at = string.find(name, "-", start, true)
    if at == nil then
      segments[#segments + 1] = string.sub(name, start)
      return segments
    end
    segments[#segments + 1] = string.sub(name, start, at - 1)
    start = at + 1
  end
end

--- The family of the route `(provider, model)` and its origin, "rule" or "router".
function M.family_of(provider, model)
  local name = fold(model)
  local head, tag = string.match(name, "^(.+):([^:]*)$")
  if head ~= nil and TAGS[tag] then name = head end
  if ROUTERS[name] then return M.UNKNOWN, "router" end
  name = strip_prefix(name, fold(provider))
  local vendor = string.match(name, "^([^/]*)/")
  if vendor ~= nil and VENDORS[vendor] then name = strip_prefix(name, vendor) end
  if ROUTERS[name] then return M.UNKNOWN, "router" end
  local segments = split((string.gsub(name, "@", "-")))
  while #segments > 1 do
    local dated = date_segments(segments)
    if dated > 0 then
      for _ = 1, dated do segments[#segments] = nil end
    elseif SUFFIXES[segments[#segments]] then
      segments[#segments] = nil
    else
      break
    end
  end
  local joined, i = {}, 1
  while i <= #segments do
    local seg = segments[i]
    if i > 1 and i < #segments and digits(seg, 1, 2) and digits(segments[i + 1], 1, 2) then
      joined[#joined + 1] = seg .. "." .. segments[i + 1]
      i = i + 2
    else
      joined[#joined + 1] = seg
      i = i + 1
    end
  end
  local family = table.concat(joined, "-")
  if family == "" then family = name end
  return family, "rule"
end

return M
