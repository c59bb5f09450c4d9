--- The Lua side of the golden vectors: one runner per kind, case input to result.
--
-- Spec: docs/VECTORS.md ("Host escapes", "Results" and one subsection per
-- kind). Mirrors genvm_policy/vectors/run.py; used by the `lupa` states of
-- `genvm-policy vectors verify --runtime lua53|lua54` and by the stand-alone
-- dispatch/vectors/verify.lua.
--
-- Rules:
-- 1. `run(kind, bytes)` decodes a case input, runs it and returns the
--    canonical bytes of its result: `{output = value}`, `{error = {code, path}}`
--    for an error raised through genvm_policy.errors, or `{crash = bytes}` for
--    anything else, which never equals an expected result.
-- 2. Host escapes (`$int`, `$float`, `$text`, `$entry`, `$nest`) become the Lua
--    values they stand for, so integers past 2^53, floats such as 503.0, invalid
--    UTF-8 and non-text keys reach the runtime as a host would hand them over.
-- 3. Lua has one string type: keys, salts, messages and data are byte strings
--    in the vectors and raw Lua strings here.
-- 4. `KINDS` lists the kinds this runtime replays, each with the SPEC section it pins.

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local family = require("genvm_policy.family")
local identity = require("genvm_policy.identity")
local numeric = require("genvm_policy.numeric")
local prng = require("genvm_policy.prng")
local policy_runners = require("vectors.runner_policy")

local M = {}

local array, map, bytes, null, kind = encoding.array, encoding.map, encoding.bytes,
  encoding.null, encoding.kind

--- The kinds this runtime replays, by name, with the SPEC section each pins.
M.KINDS = {
  numeric = "§1.2", cbor = "§2", identity = "§3", sha256 = "§4", hmac = "§4",
  prng = "§4.4", seed = "§4.2", family = "§5.8",
}

-- A malformed vector is a bug of the vector or this runner: a plain error,
-- which `run` reports as a crash.
local function bad(message)
  error("bad vector input: " .. message, 0)
end

local function field(data, name)
  local v = data[name]
  if v == nil then
    bad("the input lacks `" .. name .. "`")
  end
  return v
end

-- The raw string of a byte string; any other value is passed on unchanged so
-- that the runtime sees, and rejects, what a host might hand it.
local function raw(v)
  if kind(v) == "bytes" then
    return v[1]
  end
  return v
end

-- -- host escapes (rule 2) -------------------------------------------------

local host

local function escape(key, arg)
  if key == "$int" and kind(arg) == "bytes" and #arg[1] >= 1 and #arg[1] <= 8 then
    return (string.unpack(">i" .. #arg[1], arg[1]))
  elseif key == "$float" and kind(arg) == "bytes" and #arg[1] == 8 then
    return (string.unpack(">d", arg[1]))
  elseif key == "$text" and kind(arg) == "bytes" then
    return arg[1]
  elseif key == "$entry" and kind(arg) == "array" and #arg == 2 then
    -- A float key with an integral value becomes an integer key here, as in
    -- any Lua table: still not text.
    return map({ [host(arg[1])] = host(arg[2]) })
  elseif key == "$nest" and kind(arg) == "array" and #arg == 3 then
    local value = host(arg[3])
    for _ = 1, arg[1] do
      value = arg[2] == "array" and array({ value }) or map({ k = value })
    end
    return value
  end
  bad("the host escape `" .. key .. "` has a wrong argument")
end

function host(v)
  local k = kind(v)
  if k == "map" then
    local first = next(v)
    if first ~= nil and next(v, first) == nil and first:sub(1, 1) == "$" then
      return escape(first, v[first])
    end
    local out = {}
    local key = first
    while key ~= nil do
      out[key] = host(v[key])
      key = next(v, key)
    end
    return map(out)
  elseif k == "array" then
    local out = {}
    for i = 1, #v do
      out[i] = host(v[i])
    end
    return array(out)
  end
  return v
end

local function path_of(data)
  local p = data.path
  if p == nil then
    return {}
  end
  local out = {}
  for i = 1, #p do
    out[i] = p[i]
  end
  return out
end

-- -- runners, one per kind ---------------------------------------------------

local NUMERIC = { check = 1, neg = 1, add = 2, sub = 2, mul = 2, floordiv = 2 }

local function run_numeric(data)
  local op, args = field(data, "op"), host(field(data, "args"))
  if NUMERIC[op] ~= #args then
    bad("`" .. tostring(op) .. "` is not a numeric operation of " .. #args .. " operands")
  end
  if #args == 1 then
    return numeric[op](args[1], path_of(data))
  end
  return numeric[op](args[1], args[2], path_of(data))
end

local function run_cbor(data)
  local op = field(data, "op")
  if op == "encode" then
    return bytes(encoding.encode(host(field(data, "value"))))
  elseif op == "decode" then
    return encoding.decode(raw(field(data, "bytes")))
  elseif op == "roundtrip" then
    return bytes(encoding.encode(encoding.decode(raw(field(data, "bytes")))))
  end
  bad("`" .. tostring(op) .. "` is not a cbor operation")
end

local function run_identity(data)
  local op = field(data, "op")
  if op == "identity" then
    return identity.identity(host(field(data, "kind")), host(field(data, "value")))
  elseif op == "parse" then
    return bytes(identity.parse_identity(host(field(data, "text")), path_of(data)))
  end
  bad("`" .. tostring(op) .. "` is not an identity operation")
end

local function run_sha256(data)
  return bytes(prng.sha256(raw(field(data, "data"))))
end

local function run_hmac(data)
  return bytes(prng.hmac_sha256(raw(field(data, "key")), raw(field(data, "msg"))))
end

local function draw(stream, step)
  if step[1] == "read" then
    return bytes(stream:read(step[2]))
  elseif step[1] == "u53" then
    return stream:u53()
  elseif step[1] == "u32" then
    return stream:u32()
  elseif step[1] == "below" then
    return stream:below(host(step[2]))
  end
  bad("`" .. tostring(step[1]) .. "` is not a draw")
end

local function run_prng(data)
  local op = field(data, "op")
  local key, label = raw(field(data, "key")), host(field(data, "label"))
  if op == "block" then
    return bytes(prng.stream_block(key, label, host(field(data, "index"))))
  elseif op == "stream" then
    local stream = prng.stream(key, label)
    local draws, out = field(data, "draws"), {}
    for i = 1, #draws do
      out[i] = draw(stream, draws[i])
    end
    return array(out)
  end
  bad("`" .. tostring(op) .. "` is not a prng operation")
end

local function run_seed(data)
  local op = field(data, "op")
  if op == "call_key" then
    local key = prng.call_key(raw(field(data, "salt")), host(field(data, "material")))
    return map({ key = bytes(key), commitment = prng.seed_commitment(key) })
  elseif op == "commitment" then
    return prng.seed_commitment(raw(field(data, "key")))
  end
  bad("`" .. tostring(op) .. "` is not a seed operation")
end

local function run_family(data)
  local op = field(data, "op")
  if op == "family" then
    local name, origin = family.family_of(field(data, "provider"), field(data, "model"))
    return map({ family = name, origin = origin })
  elseif op == "table" then
    local out = {}
    for _, key in ipairs({ "routers", "suffixes", "tags", "vendors" }) do
      local rows = {}
      for i, v in ipairs(family.TABLE[key]) do rows[i] = v end
      out[key] = array(rows)
    end
    return map(out)
  end
  bad("`" .. tostring(op) .. "` is not a family operation")
end

local RUNNERS = {
  family = run_family, numeric = run_numeric, cbor = run_cbor, identity = run_identity, sha256 = run_sha256,
  hmac = run_hmac, prng = run_prng, seed = run_seed,
}
-- The policy kinds (dispatch/vectors/runner_policy.lua) read inputs with these helpers.
for name, runner in pairs(policy_runners.runners({ field = field, host = host, raw = raw,
    bad = bad })) do
  RUNNERS[name] = runner
  M.KINDS[name] = policy_runners.KINDS[name]
end

--- The result of the decoded case input `data` of `kind` (rule 1), as a value.
function M.run_value(kind_name, data)
  local runner = RUNNERS[kind_name]
  if runner == nil then
    return map({ crash = bytes("no Lua runner for the kind `" .. tostring(kind_name) .. "`") })
  end
  local ok, result = pcall(runner, data)
  if ok then
    return map({ output = result })
  elseif errors.is_error(result) then
    return map({ error = errors.as_value(result) })
  end
  return map({ crash = bytes(tostring(result)) })
end

--- The canonical bytes of the result of the case input bytes `data` of `kind` (rule 1).
function M.run(kind_name, data)
  local ok, input = pcall(encoding.decode, data)
  if not ok then
    return encoding.encode(map({ crash = bytes("the case input does not decode") }))
  end
  local result = M.run_value(kind_name, input)
  local encoded, out = pcall(encoding.encode, result)
  if not encoded then
    return encoding.encode(map({ crash = bytes("the result does not encode: " .. tostring(out)) }))
  end
  return out
end

return M
