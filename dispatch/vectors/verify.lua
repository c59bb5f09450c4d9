--- Stand-alone replay of the golden vectors under a plain Lua interpreter.
--
-- Usage, from the repository root: `lua5.3 dispatch/vectors/verify.lua vectors/*.cbor`.
-- Spec: docs/VECTORS.md ("Files", "Cases", "Pass rule"). Mirrors
-- genvm_policy/vectors/format.py and verify.py with no help from Python: it
-- reads each file with `io`, decodes it with the runtime's own decoder, checks
-- the format and replays every case through dispatch/vectors/runner.lua.
--
-- Rules:
-- 1. A file that breaks the format (unknown or missing field, wrong `count`,
--    unknown kind, duplicate name) fails as one case named after the file.
-- 2. A kind whose `runtimes` leaves out `lua` is counted as not run.
-- 3. Each failure prints `FAIL kind/name: field: expected …, got …`; the last
--    line is `N passed, M failed`; the exit status is 0 only when nothing
--    failed and at least one case ran.
-- This script is a shell, not part of the runtime: it may use `io` and `os` (when present).

local here = arg and arg[0] and arg[0]:match("^(.*)[/\\]vectors[/\\][^/\\]+$") or "dispatch"
package.path = here .. "/?.lua;" .. package.path

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local runner = require("vectors.runner")

local FILE_FIELDS = { "format", "kind", "spec", "runtimes", "count", "cases" }
local CASE_FIELDS = { "name", "description", "valid", "input" }

local passed, failed, not_run = 0, 0, 0

local function bad(where, message)
  error({ bad = where .. ": " .. message }, 0)
end

-- Check that the decoded map `t` holds exactly `fields` (plus `extra`).
local function fields(t, list, extra, where)
  if encoding.kind(t) ~= "map" then
    bad(where, "a map is expected")
  end
  local allowed = {}
  for i = 1, #list do
    allowed[list[i]] = true
    if t[list[i]] == nil then
      bad(where, "the field `" .. list[i] .. "` is missing")
    end
  end
  if extra then
    allowed[extra] = true
    if t[extra] == nil then
      bad(where, "the field `" .. extra .. "` is missing")
    end
  end
  local key = next(t)
  while key ~= nil do
    if not allowed[key] then
      bad(where, "unknown field `" .. tostring(key) .. "`")
    end
    key = next(t, key)
  end
end

local function show(v)
  local k = encoding.kind(v)
  if k == "bytes" then
    local h = v[1]:gsub(".", function(c) return string.format("%02x", c:byte()) end)
    return "h'" .. (#h > 64 and h:sub(1, 64) .. "…" or h) .. "'"
  elseif k == "text" then
    return "`" .. v:sub(1, 60) .. "`"
  elseif k == "map" then
    return "a map"
  elseif k == "array" then
    return "a list of " .. #v
  elseif v == nil then
    return "nothing"
  end
  return tostring(v)
end

local function same(a, b)
  return a ~= nil and b ~= nil and encoding.encode(a) == encoding.encode(b)
end

-- The first field where `got` differs from `want` (maps in bytes order of keys).
local function difference(want, got, where)
  local kw, kg = encoding.kind(want), encoding.kind(got)
  if kw == "map" and kg == "map" then
    local keys = {}
    for _, t in ipairs({ want, got }) do
      local key = next(t)
      while key ~= nil do
        keys[#keys + 1] = key
        key = next(t, key)
      end
    end
    table.sort(keys, encoding.bytes_less)
    for i = 1, #keys do
      local key = keys[i]
      if not same(want[key], got[key]) then
        local inner = where == "" and key or where .. "." .. key
        if want[key] ~= nil and got[key] ~= nil then
          return difference(want[key], got[key], inner)
        end
        return inner .. ": expected " .. show(want[key]) .. ", got " .. show(got[key])
      end
    end
  elseif kw == "array" and kg == "array" then
    for i = 1, math.min(#want, #got) do
      if not same(want[i], got[i]) then
        return difference(want[i], got[i], where .. "[" .. (i - 1) .. "]")
      end
    end
    return where .. ": expected " .. #want .. " items, got " .. #got
  end
  return (where == "" and "result" or where) .. ": expected " .. show(want) .. ", got " .. show(got)
end

local function check_file(top, name)
  fields(top, FILE_FIELDS, nil, name)
  if top.format ~= 1 or math.type(top.format) ~= "integer" then
    bad(name, "format `" .. show(top.format) .. "` is not 1")
  end
  local runtimes, lua = top.runtimes, false
  if encoding.kind(runtimes) ~= "array" then
    bad(name, "`runtimes` must be a list")
  end
  for i = 1, #runtimes do
    lua = lua or runtimes[i] == "lua"
  end
  if lua and runner.KINDS[top.kind] == nil then
    bad(name, "`" .. show(top.kind) .. "` is not a kind this runtime replays")
  end
  if lua and runner.KINDS[top.kind] ~= top.spec then
    bad(name, "the kind `" .. top.kind .. "` pins " .. runner.KINDS[top.kind])
  end
  local cases = top.cases
  if encoding.kind(cases) ~= "array" then
    bad(name, "`cases` must be a list")
  end
  if top.count ~= #cases or math.type(top.count) ~= "integer" then
    bad(name, "`count` is " .. show(top.count) .. " but the file holds " .. #cases .. " cases")
  end
  local seen = {}
  for i = 1, #cases do
    local case, where = cases[i], name .. " case " .. (i - 1)
    local valid = encoding.kind(case) == "map" and case.valid
    fields(case, CASE_FIELDS, valid == true and "output" or "error", where)
    if type(valid) ~= "boolean" or type(case.name) ~= "string" or seen[case.name] then
      bad(where, "a case needs a boolean `valid` and a unique text `name`")
    end
    seen[case.name] = true
    if not valid then
      fields(case.error, { "code", "path" }, nil, where .. " error")
    end
  end
  return lua
end

local function replay(top)
  local cases = top.cases
  for i = 1, #cases do
    local case = cases[i]
    local want = encoding.map(case.valid and { output = case.output } or { error = case.error })
    local got = runner.run_value(top.kind, case.input)
    if same(want, got) then
      passed = passed + 1
    else
      failed = failed + 1
      print("FAIL " .. top.kind .. "/" .. case.name .. ": " .. difference(want, got, ""))
    end
  end
end

local function verify(name)
  local file, why = io.open(name, "rb")
  if not file then
    bad(name, "cannot be read (" .. tostring(why) .. ")")
  end
  local data = file:read("a")
  file:close()
  local ok, top = pcall(encoding.decode, data)
  if not ok then
    bad(name, errors.is_error(top) and errors.render(top) or tostring(top))
  end
  if check_file(top, name) then
    replay(top)
  else
    not_run = not_run + #top.cases
  end
end

for i = 1, #arg do
  local ok, e = pcall(verify, arg[i])
  if not ok then
    failed = failed + 1
    print("FAIL " .. (type(e) == "table" and e.bad or tostring(e)))
  end
end
if not_run > 0 then
  print(not_run .. " cases of reference-only kinds not run")
end
print(passed .. " passed, " .. failed .. " failed")
local ok = failed == 0 and passed > 0
-- GenVM's library set (the mlua runtime) has no `os`: that host reads the returned value.
if os then
  os.exit(ok and 0 or 1)
end
return ok
