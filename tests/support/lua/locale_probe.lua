-- The locale probe for the stand-alone interpreter (test_determinism.py): switches the
-- process locale on, then prints the catalog identity and the canonical CBOR (as hex)
-- of a map whose keys arrive as hex arguments, inserted in reverse order.
-- Run from the repository root: lua5.3 locale_probe.lua <locale> <hex key>...
package.path = "dispatch/?.lua;" .. package.path
local want = ...
assert(os.setlocale("") == want, "locale not live: " .. tostring(os.setlocale()))
local encoding = require("genvm_policy.encoding")
local identity = require("genvm_policy.identity")
local keys = { select(2, ...) }
local m = {}
for i = #keys, 1, -1 do
  m[keys[i]:gsub("..", function(h) return string.char(tonumber(h, 16)) end)] = i
end
io.write(identity.identity("catalog", encoding.map(m)), "\n")
io.write((encoding.encode(encoding.map(m)):gsub(".", function(c)
  return string.format("%02x", c:byte())
end)), "\n")
