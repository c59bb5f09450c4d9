--- Stand-alone self-check of the Lua runtime's foundations.
--
-- Run from the repository root: `lua5.3 dispatch/selftest.lua` (or lua5.4).
-- It checks `_VERSION`, then runs known-answer checks of SHA-256 (FIPS 180-4
-- examples), HMAC-SHA256 (RFC 4231), canonical CBOR (RFC 8949 Appendix A
-- and the rejections of docs/SPEC.md §2.3), identities, the PRNG (answers of
-- the Python reference, docs/SPEC.md §4) and the checked integer operations.
-- The last line is `N passed, M failed`; any failure raises an error, so the
-- interpreter exits non-zero without needing `os.exit`.

package.path = "dispatch/?.lua;" .. package.path

local passed, failed = 0, 0

local function report(ok, name, detail)
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    print("FAIL " .. name .. (detail and (": " .. detail) or ""))
  end
end

local function hex(s)
  return (s:gsub(".", function(c)
    return string.format("%02x", c:byte())
  end))
end

local function unhex(h)
  return (h:gsub("..", function(pair)
    return string.char(tonumber(pair, 16))
  end))
end

local function same(name, got, want)
  report(got == want, name, "got " .. tostring(got) .. ", want " .. tostring(want))
end

-- Expect `f(...)` to raise the error `code` at the path rendered as `where`.
local function raises(name, code, where, f, ...)
  local errors = require("genvm_policy.errors")
  local ok, e = pcall(f, ...)
  if ok then
    report(false, name, "no error, want " .. code)
  elseif not errors.is_error(e) then
    report(false, name, "plain error " .. tostring(e))
  else
    local got = e.code .. " " .. errors.render_path(e.path)
    same(name, got, code .. " " .. where)
  end
end

same("_VERSION", _VERSION == "Lua 5.3" or _VERSION == "Lua 5.4", true)

local sha256 = require("genvm_policy.sha256")
local numeric = require("genvm_policy.numeric")
local encoding = require("genvm_policy.encoding")
local identity = require("genvm_policy.identity")
local prng = require("genvm_policy.prng")

-- SHA-256: FIPS 180-4 examples.
same("sha256 empty", hex(sha256.sha256("")),
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
same("sha256 abc", hex(sha256.sha256("abc")),
  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
same("sha256 448 bits", hex(sha256.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
same("sha256 896 bits", hex(sha256.sha256("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
  .. "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")),
  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
same("sha256 million a", hex(sha256.sha256(string.rep("a", 1000000))),
  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")

-- HMAC-SHA256: RFC 4231 test cases 1, 2, 3 and 6 (a key longer than a block).
same("hmac rfc4231 1", hex(sha256.hmac_sha256(string.rep("\11", 20), "Hi There")),
  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
same("hmac rfc4231 2", hex(sha256.hmac_sha256("Jefe", "what do ya want for nothing?")),
  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
same("hmac rfc4231 3", hex(sha256.hmac_sha256(string.rep("\170", 20), string.rep("\221", 50))),
  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe")
same("hmac rfc4231 6", hex(sha256.hmac_sha256(string.rep("\170", 131),
  "Test Using Larger Than Block-Size Key - Hash Key First")),
  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")

-- CBOR: RFC 8949 Appendix A examples inside the data model, then the bounds.
local array, map, bytes, null = encoding.array, encoding.map, encoding.bytes, encoding.null
local cbor = {
  { 0, "00" }, { 23, "17" }, { 24, "1818" }, { 100, "1864" }, { 1000, "1903e8" },
  { 1000000, "1a000f4240" }, { 1000000000000, "1b000000e8d4a51000" },
  { -1, "20" }, { -10, "29" }, { -100, "3863" }, { -1000, "3903e7" },
  { numeric.MAX, "1b001fffffffffffff" }, { -numeric.MAX, "3b001ffffffffffffe" },
  { false, "f4" }, { true, "f5" }, { null, "f6" },
  { "", "60" }, { "a", "6161" }, { "IETF", "6449455446" }, { "\195\188", "62c3bc" },
  { "\230\176\180", "63e6b0b4" }, { "\240\144\133\145", "64f0908591" },
  { bytes(""), "40" }, { bytes("\1\2\3\4"), "4401020304" },
  { array({}), "80" }, { array({ 1, 2, 3 }), "83010203" },
  { array({ 1, array({ 2, 3 }), array({ 4, 5 }) }), "8301820203820405" },
  { map({}), "a0" }, { map({ a = 1, b = array({ 2, 3 }) }), "a26161016162820203" },
  { map({ b = 1, aa = 2 }), "a2616201626161" .. "02" },
}
for i = 1, #cbor do
  local value, want = cbor[i][1], cbor[i][2]
  same("cbor encode " .. want, hex(encoding.encode(value)), want)
  same("cbor round trip " .. want, hex(encoding.encode(encoding.decode(unhex(want)))), want)
end

local rejected = {
  { "", "CBOR_TRUNCATED", "$" }, { "1817", "CBOR_NON_CANONICAL", "$" },
  { "1a0000ffff", "CBOR_NON_CANONICAL", "$" }, { "1b00000000ffffffff", "CBOR_NON_CANONICAL", "$" },
  { "5f", "CBOR_NON_CANONICAL", "$" }, { "1c", "CBOR_MALFORMED", "$" },
  { "ff", "CBOR_MALFORMED", "$" }, { "c001", "CBOR_UNSUPPORTED", "$" },
  { "f97e00", "CBOR_UNSUPPORTED", "$" }, { "f7", "CBOR_UNSUPPORTED", "$" },
  { "1b0020000000000000", "CBOR_RANGE", "$" }, { "3b001fffffffffffff", "CBOR_RANGE", "$" },
  { "1bffffffffffffffff", "CBOR_RANGE", "$" }, { "0000", "CBOR_TRAILING", "$" },
  { "62c3", "CBOR_TRUNCATED", "$" }, { "61ff", "CBOR_TEXT", "$" },
  { "63eda080", "CBOR_TEXT", "$" }, { "820161", "CBOR_TRUNCATED", "$[1]" },
  { "a2616101616101", "CBOR_DUPLICATE_KEY", "$.a" },
  { "a2616201616101", "CBOR_NON_CANONICAL", "$.a" }, { "a10101", "CBOR_KEY", "$" },
  { "a16178" .. "81" .. "1c", "CBOR_MALFORMED", "$.x[0]" },
  { string.rep("81", 64) .. "00", nil }, { string.rep("81", 65) .. "00", "CBOR_DEPTH", nil },
}
for i = 1, #rejected do
  local input, code, where = rejected[i][1], rejected[i][2], rejected[i][3]
  if code == nil then
    report(pcall(encoding.decode, unhex(input)), "cbor accepts " .. input:sub(1, 16))
  else
    if where == nil then
      where = "$" .. string.rep("[0]", 64)
    end
    raises("cbor rejects " .. input:sub(1, 16), code, where, encoding.decode, unhex(input))
  end
end
raises("cbor float", "CBOR_TYPE", "$[0]", encoding.encode, array({ 1.5 }))
raises("cbor untagged", "CBOR_TYPE", "$.k", encoding.encode, map({ k = {} }))
raises("cbor range", "CBOR_RANGE", "$", encoding.encode, numeric.MAX + 1)
raises("cbor key", "CBOR_KEY", "$", encoding.encode, map({ [1] = 2 }))

-- Identity and the PRNG: answers of the Python reference.
same("identity policy", identity.identity("policy", map({ a = array({ 1, "x" }) })),
  "sha256:298917d87c554f7213069c222b8f856553e9176291b85d55cede89b641f4ebc8")
raises("identity kind", "ID_KIND", "$", identity.digest, "route", 1)
same("parse identity", hex(identity.parse_identity("sha256:" .. string.rep("ab", 32))),
  string.rep("ab", 32))
raises("parse identity upper", "ID_SYNTAX", "$", identity.parse_identity,
  "sha256:" .. string.rep("AB", 32))

local s = prng.stream(string.rep("k", 32), "jitter")
same("stream read 5", hex(s:read(5)), "d6d5520c1a")
same("stream read 40", hex(s:read(40)),
  "501b8dc0a4dab4cd32a8c7721cd8e5626e7ba43d50e47fdda9e10df80010fe0a58b98f96fdfd5189")
same("stream u53", s:u53(), 6749750370375708)
same("stream below 10", s:below(10), 6)
same("stream below 1000", s:below(1000), 300)
local range = {}
for i = 0, 31 do
  range[#range + 1] = string.char(i)
end
s = prng.stream(table.concat(range), "select/sample")
local draws = {}
for i = 1, 12 do
  draws[i] = s:below(7)
end
same("stream below 7", table.concat(draws, ","), "0,5,6,6,5,3,4,3,0,5,0,0")
same("stream below 2^53", s:below(prng.TOP), 1175423250792920)
same("stream below 1", s:below(1), 0)
same("stream u53 integer", math.type(s:u53()), "integer")
same("stream utf-8 label", hex(prng.stream("\1", "\195\169"):read(33)),
  "81dfad01803cc596cb8c88e2c18a4ca0e9c669e6f7087687a0233d4ca7fe5b7dc6")
same("stream last block", hex(prng.stream_block("key", "x", 0xffffffff)),
  "517b97cbd4234fee4cb076a2c15441920516d95e47e083efc15d9730b079c32f")
same("call key", hex(prng.call_key(string.rep("s", 32), map({ tx_id = "0xab", call = array({ 1, 2 }) }))),
  "d5be6d9f48e3542180d4db85950c914bada348a5e7d2e30a57ca42550cca355a")
same("seed commitment", prng.seed_commitment("abc"),
  "sha256:bfb75c050a3023c8b00395883e362fe6fa282dc00aea75c67cab8e99a61eaab3")
raises("below 0", "PRNG_BOUND", "$", s.below, s, 0)
raises("below 2^53 + 1", "PRNG_BOUND", "$", s.below, s, prng.TOP + 1)
raises("label empty", "PRNG_LABEL", "$", prng.stream, "k", "")
raises("label nul", "PRNG_LABEL", "$", prng.stream, "k", "a\0b")
raises("label long", "PRNG_LABEL", "$", prng.stream, "k", string.rep("x", 49))
raises("salt short", "PRNG_KEY", "$", prng.call_key, "short", map({}))
raises("block index", "PRNG_INDEX", "$", prng.stream_block, "k", "x", 0x100000000)

-- Checked integers.
local MAX = numeric.MAX
same("add at MAX", numeric.add(MAX - 1, 1), MAX)
raises("add past MAX", "NUM_RANGE", "$", numeric.add, MAX, 1)
raises("sub past -MAX", "NUM_RANGE", "$", numeric.sub, -MAX, 1)
same("mul at bound", numeric.mul(94906265, 94906265), 9007199136250225)
raises("mul past MAX", "NUM_RANGE", "$", numeric.mul, 94906266, 94906266)
raises("mul would wrap", "NUM_RANGE", "$", numeric.mul, MAX, MAX)
same("neg", numeric.neg(-MAX), MAX)
same("floordiv negative", numeric.floordiv(-7, 2), -4)
same("floordiv negative divisor", numeric.floordiv(7, -2), -4)
raises("floordiv zero", "NUM_DIV_ZERO", "$", numeric.floordiv, 1, 0)
raises("check float", "NUM_TYPE", "$.x", numeric.check, 3.0, { "x" })
raises("check range", "NUM_RANGE", "$", numeric.check, MAX + 1)
same("from_host 503.0", numeric.from_host(503.0), 503)
same("from_host integer type", math.type(numeric.from_host(503.0)), "integer")
same("from_host fraction", numeric.from_host(0.5), nil)
same("from_host text", numeric.from_host("503"), nil)

print(passed .. " passed, " .. failed .. " failed")
if failed > 0 then
  error(failed .. " self-checks failed", 0)
end
