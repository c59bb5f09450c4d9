--- Identities: SHA-256 over a versioned domain tag and the canonical bytes.
--
-- Spec: docs/SPEC.md §3 (Identity). Mirrors genvm_policy/identity.py.
--
-- Rules:
-- 1. `digest(kind, value) = SHA-256("genvm-policy/v1/" || kind || 0x00 || cbor(value))`;
--    the tag separates kinds, so equal values of two kinds never share an identity.
-- 2. Only the kinds in `KINDS` exist (`ID_KIND` otherwise).
-- 3. An identity is printed as `sha256:` and 64 lower-case hex digits, and only
--    that text parses back (`ID_SYNTAX`).

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local sha256 = require("genvm_policy.sha256")

local M = {}
local T = require("genvm_policy.tables").identity

--- Every kind of identity (SPEC §3), in the reference's order.
M.KINDS = T.KINDS

--- The versioned start of every domain tag.
M.TAG = T.TAG

--- The start of an identity's text form.
M.PREFIX = T.PREFIX

local KNOWN = {}
for i = 1, #M.KINDS do
  KNOWN[M.KINDS[i]] = true
end

--- The 32-byte identity of `value` as a `kind` (rule 1).
--- Raises `ID_KIND` for an unknown kind, and the codes of `encoding.encode`.
function M.digest(kind, value)
  if not KNOWN[kind] then
    errors.raise("ID_KIND", {}, "`" .. tostring(kind) .. "` is not a kind of identity",
      "use one of " .. table.concat(M.KINDS, ", "))
  end
  return sha256.sha256(M.TAG .. kind .. "\0" .. encoding.encode(value))
end

--- The identity of `value` as a `kind`, printed as `sha256:<64 hex>` (rule 3).
function M.identity(kind, value)
  local raw = M.digest(kind, value)
  return M.PREFIX .. string.format(string.rep("%02x", 32), string.byte(raw, 1, 32))
end

--- The 32 bytes of an identity text; raises `ID_SYNTAX` unless it is exact (rule 3).
function M.parse_identity(text, path)
  if type(text) ~= "string" or #text ~= 71 or not text:find("^sha256:[0-9a-f]+$") then
    local shown = type(text) == "string" and #text <= 80 and text or "this value"
    errors.raise("ID_SYNTAX", path, "`" .. shown .. "` is not an identity",
      "write `sha256:` followed by 64 lower-case hex digits")
  end
  return (text:sub(8):gsub("..", function(pair)
    return string.char(tonumber(pair, 16))
  end))
end

return M
