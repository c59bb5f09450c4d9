-- Host side of the GenVM fake (GENVM.md §3, §4): builds the globals `__dflt`, `__llm` and,
-- in the newest V2, `rat`, around Python callbacks, and the coroutine driver that runs
-- entry points.
--
-- 1. Every value crossing to Python goes through `export`: strings hex-encoded with an `s`
--    prefix, tables as flat key/value lists, everything else as is (userdata stays opaque).
--    The hash functions take one string, often large (the hook hashes its GenVM view at
--    start-up), so `widen` ships it instead: one C-level `gsub` turns each byte >= 0x80 into
--    its two-byte UTF-8 form, lupa decodes the result as UTF-8 into code points equal to
--    the bytes, and Python recovers the exact bytes as Latin-1 (prefix `w`). A per-byte
--    Lua callback costs ~0.75 µs a byte and made the fake, not the hook, dominate start-up.
-- 2. Python callbacks never raise: they return `ok, value`; the wrappers here raise `value`
--    in Lua, so the hook's `pcall` sees exactly the host's error value.
-- 3. Async host functions are Lua functions that `coroutine.yield` a private marker to the
--    driver. A yield from a sort comparator, a gsub callback or a `require`d module body
--    therefore fails with "attempt to yield across a C-call boundary", as in GenVM.
local P, MARK, cfg = ...

local function hex(s)
  return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end

local function export(v)
  local t = type(v)
  if t == "string" then
    return "s" .. hex(v)
  elseif t == "table" then
    local out = {}
    for k, x in pairs(v) do
      out[#out + 1] = export(k)
      out[#out + 1] = export(x)
    end
    return out
  end
  return v
end

local WIDE = {}
for b = 128, 255 do
  WIDE[string.char(b)] = string.char(0xC0 | (b >> 6), 0x80 | (b & 0x3F))
end

local function widen(s)
  return "w" .. (string.gsub(s, "[\128-\255]", WIDE))
end

local function export_all(...)
  local n = select("#", ...)
  local args = table.pack(...)
  for i = 1, n do args[i] = export(args[i]) end
  return n, args
end

local function sync(name)
  local fn = P[name]
  return function(...)
    local n, args = export_all(...)
    local ok, v = fn(table.unpack(args, 1, n))
    if ok then return v end
    error(v, 0)
  end
end

-- A host hash: a string argument crosses widened (rule 1); anything else as `sync` sends it.
local function hash(name)
  local fn, slow = P[name], sync(name)
  return function(s, ...)
    if type(s) ~= "string" or select("#", ...) > 0 then return slow(s, ...) end
    local ok, v = fn(widen(s))
    if ok then return v end
    error(v, 0)
  end
end

local function await(name, ...)
  local n, args = export_all(...)
  local r = table.pack(coroutine.yield(MARK, name, n, table.unpack(args, 1, n)))
  if r[1] then return r[2] end
  error(r[2], 0)
end

local function part(ctx, key)
  if type(ctx) ~= "table" then return nil end
  return ctx[key]
end

local dflt = {
  log_json = sync("log_json"),
  user_error = sync("user_error"),
  as_user_error = function(e)
    local ok, v = P.as_user_error(e)
    if ok then return v end
    error(v, 0)
  end,
  sleep_seconds = function(seconds) return await("sleep_seconds", seconds) end,
  request = function(ctx, req) return await("request", part(ctx, "__ctx_dflt"), req) end,
  json_parse = sync("json_parse"),
  json_stringify = sync("json_stringify"),
  base64_encode = sync("base64_encode"),
  base64_decode = sync("base64_decode"),
  split_url = sync("split_url"),
}
if cfg.line == "v2" then
  dflt.url_encode = sync("url_encode")
  dflt.filter_image = sync("filter_image")
  if cfg.filter_text then dflt.filter_text = sync("filter_text") end
end
if cfg.profile == "v2-new" then
  for _, name in ipairs({"random_bytes", "random_float", "monotonic_ms"}) do
    dflt[name] = sync(name)
  end
  dflt.sha2_256, dflt.sha3_256 = hash("sha2_256"), hash("sha3_256")
  dflt.data_dir = cfg.data_dir
end
__dflt = dflt

local llm = {
  providers = cfg.providers,
  templates = cfg.templates,
  exec_prompt_in_provider = function(ctx, req)
    return await("exec_prompt_in_provider", part(ctx, "__ctx_llm"), req)
  end,
}
if cfg.profile == "v2-new" then
  llm.meta = cfg.meta
  llm.timeout = cfg.timeout
  llm.exhaust = function() error(cfg.exhausted, 0) end
  rat = { new = sync("rat_new"), is_rat = sync("rat_is"), zero = cfg.rat_zero }
  -- lupa wraps every Python object with one shared metatable; arithmetic on anything but
  -- a rat is refused by the Python side, so NULL and errors stay inert.
  local mt = getmetatable(cfg.rat_zero)
  for _, op in ipairs({"add", "sub", "mul", "div", "mod", "unm", "eq", "lt", "le"}) do
    local fn = sync("rat_" .. op)
    mt["__" .. op] = function(a, b) return fn(a, b) end
  end
end
__llm = llm

-- Newest V2 preloads lsqlite3 (GENVM.md §3). The stand-in keeps lsqlite3's calling
-- convention (result codes, `db:errmsg()`, prepared statements with `bind_values`) and
-- runs every statement on a real sqlite file through Python; `prepare` only stores the
-- text, so a bad statement fails at `step` (lsqlite3 gives `nil, code` at `prepare`; the
-- hook reads `db:errmsg()` either way).
if cfg.profile == "v2-new" and cfg.lsqlite3 then
  local sq = { OK = 0, ERROR = 1, BUSY = 5, CANTOPEN = 14, ROW = 100, DONE = 101 }
  local Db, Stmt = {}, {}
  Db.__index, Stmt.__index = Db, Stmt
  local function call(name, ...)
    local n, args = export_all(...)
    return select(2, P[name](table.unpack(args, 1, n)))
  end
  function sq.open(path)
    local code, h = call("sqlite_open", path)
    if code ~= sq.OK then return nil, code, h end
    return setmetatable({ h = h }, Db)
  end
  function Db:exec(sql) return (call("sqlite_run", self.h, sql, {}, false)) end
  function Db:errmsg() return (select(2, call("sqlite_errmsg", self.h))) end
  function Db:busy_timeout(ms) call("sqlite_busy", self.h, ms) end
  function Db:close() return (call("sqlite_close", self.h)) end
  function Db:prepare(sql) return setmetatable({ db = self, sql = sql, values = {} }, Stmt) end
  function Stmt:bind_values(...)
    self.values = table.pack(...)
    self.values.n = nil
    return sq.OK
  end
  -- As SQLite's: reset keeps the bindings, and reset and finalize report the last
  -- step's failure again.
  function Stmt:step()
    local rc = call("sqlite_run", self.db.h, self.sql, self.values, true)
    self.failed = rc ~= sq.DONE and rc ~= sq.ROW and rc or nil
    return rc
  end
  function Stmt:reset()
    local rc = self.failed or sq.OK
    self.failed = nil
    return rc
  end
  function Stmt:finalize() return self.failed or sq.OK end
  package.preload.lsqlite3 = function() return sq end
end

-- Coroutines stay on the Lua side (lupa does not hand Lua threads back intact): Python
-- holds a number per running entry point.
local driver = {}
local threads = {}
local next_id = 0

local function track(co)
  next_id = next_id + 1
  threads[next_id] = co
  return next_id
end

-- Resume coroutine `id` once; report how it stopped, with every value exported.
function driver.step(id, ...)
  local co = threads[id]
  local r = table.pack(coroutine.resume(co, ...))
  if coroutine.status(co) == "dead" then threads[id] = nil end
  if not r[1] then return "error", export(r[2]) end
  if coroutine.status(co) == "dead" then return "return", export(r[2]) end
  if r[2] == MARK then return "yield", table.unpack(r, 3, r.n) end
  return "stray", export(r[2])
end

function driver.load(source, chunkname)
  local fn, err = load(source, chunkname, "t")
  if fn == nil then return nil, export(err) end
  return track(coroutine.create(fn))
end

function driver.entry(fn)
  return track(coroutine.create(fn))
end

-- Entry points are read once, through ordinary global lookups, as GenVM does.
function driver.capture()
  return ExecPrompt, ExecPromptTemplate, Setup, Teardown
end

driver.type = type
return driver
