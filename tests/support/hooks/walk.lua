-- Test hook for the GenVM fake: walks the providers in sorted order and exercises every
-- host function. `args.prompt` is a command (`name` or `name:arg`) that picks a behaviour.
local lib = require("lib-genvm")
local llm = require("lib-llm")

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function routes()
  local out = {}
  for _, backend in ipairs(sorted_keys(__llm.providers)) do
    for _, model in ipairs(sorted_keys(__llm.providers[backend].models)) do
      out[#out + 1] = { backend, model }
    end
  end
  return out
end

local function request(route, prompt, format)
  return { provider = route[1], model = route[2], format = format, prompt = prompt }
end

-- Try every route in order; fall through on module errors, re-raise anything else.
local function walk(ctx, prompt, format)
  for _, route in ipairs(routes()) do
    local ok, res = pcall(__llm.exec_prompt_in_provider, ctx, request(route, prompt, format))
    if ok then return res end
    local decoded = __dflt.as_user_error(res)
    if decoded == nil then error(res, 0) end
    lib.log({ level = "warning", message = "attempt failed", kind = decoded.causes[1],
              status = decoded.ctx.status, trace = decoded.causes[2],
              overloaded = llm.overloaded_statuses[decoded.ctx.status or 0] == true })
  end
  __dflt.user_error({ causes = { "NO_PROVIDER_FOR_PROMPT" }, fatal = true, ctx = {} })
end

local function first_route() return routes()[1] end

local commands = {}

function commands.walk(ctx, args)
  local t = llm.exec_prompt_transform(args)
  return walk(ctx, t.prompt, t.format)
end

function commands.raw(ctx, args)
  local ok, res = pcall(__llm.exec_prompt_in_provider, ctx, request(first_route(), {
    user_message = "x", temperature = 0, images = {}, max_tokens = 10,
    use_max_completion_tokens = false }, "text"))
  return { data = __dflt.json_stringify({ ok = ok, decoded = ok or __dflt.as_user_error(res) ~= nil,
                                         message = ok and "" or tostring(res),
                                         type = type(res) }), consumed_gen = 0 }
end

-- One request variant per case; reports whether the host accepted it.
function commands.probe(ctx, args)
  local route = first_route()
  local prompt = { user_message = "x", temperature = 1, images = {}, max_tokens = 10,
                   use_max_completion_tokens = false, bogus = "ignored" }
  local req = request(route, prompt, "text")
  local case = args.arg
  if case == "unknown_provider" then req.provider = "nope"
  elseif case == "unknown_model" then req.model = "nope"
  elseif case == "bad_format" then req.format = "yaml"
  elseif case == "no_images" then prompt.images = nil
  elseif case == "neg_seed" then prompt.seed = -1
  elseif case == "max_seed" then prompt.seed = math.maxinteger
  elseif case == "float_seed" then prompt.seed = 1.0
  elseif case == "images_map" then prompt.images = { a = "x" }
  elseif case == "images_holes" then prompt.images = { [2] = "x" }
  elseif case == "images_extra" then prompt.images = { "x", n = 1 }
  elseif case == "images_number" then prompt.images = { 5 }
  elseif case == "max_tokens_text" then prompt.max_tokens = "10"
  elseif case == "max_tokens_big" then prompt.max_tokens = 1 << 32
  elseif case == "temperature_text" then prompt.temperature = "0.5"
  elseif case == "system_false" then prompt.system_message = false
  elseif case == "timeout_text" then req.timeout = "1.5s"
  elseif case == "timeout_bool" then req.timeout = true
  end
  local ok, res = pcall(__llm.exec_prompt_in_provider, ctx, req)
  return { data = __dflt.json_stringify({ ok = ok, decoded = ok or __dflt.as_user_error(res) ~= nil }),
           consumed_gen = 0 }
end

function commands.float_max(ctx, args)
  local t = llm.exec_prompt_transform(args)
  t.prompt.max_tokens = 100.0
  return walk(ctx, t.prompt, t.format)
end

function commands.sort_yield(ctx, args)
  local t = llm.exec_prompt_transform(args)
  local rs = routes()
  table.sort(rs, function(a, b)
    __llm.exec_prompt_in_provider(ctx, request(a, t.prompt, t.format))
    return a[1] < b[1]
  end)
  return { data = "unreachable", consumed_gen = 0 }
end

function commands.gsub_yield(ctx, args)
  local s = string.gsub("ab", ".", function(c) __dflt.sleep_seconds(1) return c end)
  return { data = s, consumed_gen = 0 }
end

function commands.require_yield(ctx, args)
  require("yield_in_body")
  return { data = "unreachable", consumed_gen = 0 }
end

function commands.user_error(ctx, args)
  __dflt.user_error({ causes = { "MY_REASON", args.prompt }, fatal = false, ctx = { n = 1 } })
end

function commands.bad_user_error(ctx, args)
  __dflt.user_error({ causes = { "NO_CTX" }, fatal = false })
end

function commands.boom(ctx, args) error("boom") end

function commands.ret(ctx, args)
  local shapes = {
    number = { data = 5, consumed_gen = 0 },
    float_gen = { data = "x", consumed_gen = 1.0 },
    neg_gen = { data = "x", consumed_gen = -1 },
    no_gen = { data = "x" },
    rat_gen = { data = "x", consumed_gen = rat and rat.new(3) },
    frac_gen = { data = "x", consumed_gen = rat and rat.new(1, 2) },
    table_data = { data = { a = 1 }, consumed_gen = 0 },
    bool_data = { data = false, consumed_gen = 0 },
    seq_data = { data = { 1, 2 }, consumed_gen = 0 },
    int_key_data = { data = { [7] = "x", a = 1 }, consumed_gen = 0 },
    empty_data = { data = {}, consumed_gen = 0 },
    max_gen = { data = "x", consumed_gen = math.maxinteger },
    nothing = nil,
  }
  return shapes[args.arg]
end

function commands.exhaust(ctx, args) __llm.exhaust() end

function commands.meta(ctx, args)
  local out = {}
  for _, route in ipairs(routes()) do
    local backend = __llm.providers[route[1]]
    local m = backend.models[route[2]].meta
    local ok = pcall(function() return m.greybox end)
    out[route[1] .. "/" .. route[2]] = type(m) .. ":" .. tostring(ok) .. ":" .. type(backend.meta)
  end
  return { data = __dflt.json_stringify(out), consumed_gen = 0 }
end

function commands.order(ctx, args)
  local names = {}
  for name in pairs(__llm.providers) do names[#names + 1] = name end
  return { data = table.concat(names, ","), consumed_gen = 0 }
end

-- Per-session state on ctx; two sleeps let another session run in between.
function commands.tag(ctx, args)
  ctx.tag = args.arg
  ctx.calls = (ctx.calls or 0) + 1
  __dflt.sleep_seconds(0.25)
  __dflt.sleep_seconds(0.5)
  local res = walk(ctx, llm.exec_prompt_transform({ prompt = ctx.tag, response_format = "text",
                                                   images = {} }).prompt, "text")
  return { data = ctx.tag .. ":" .. ctx.calls .. ":" .. res.data, consumed_gen = 0 }
end

function commands.setup_seen(ctx, args)
  return { data = tostring(ctx.setup_done), consumed_gen = 0 }
end

function commands.hello(ctx, args)
  local hd = ctx.host_data
  return { data = __dflt.json_stringify({
    cookie = ctx.cookie, genvm_id = ctx.genvm_id, role = ctx.role, tx = hd.tx_id,
    node = hd.node_address, dflt = type(ctx.__ctx_dflt), llm = type(ctx.__ctx_llm),
    budget = type(args.budget_type) }), consumed_gen = 0 }
end

function commands.budget(ctx, args, remaining_gen)
  return { data = type(remaining_gen) .. ":" .. tostring(remaining_gen), consumed_gen = 0 }
end

-- Every synchronous `__dflt` helper the profile offers, results as one JSON text.
function commands.host(ctx, args)
  local d = __dflt
  local out = { }
  out.json = d.json_stringify(d.json_parse('{"b":[1,2],"a":"x"}'))
  out.b64 = d.base64_decode(d.base64_encode("\0\255hi")) == "\0\255hi"
  local url = d.split_url("https://example.com:8443/x")
  out.url = url.schema .. "|" .. url.host .. "|" .. math.type(url.port)
  local ok, e = pcall(d.json_parse, "{nope")
  out.bad_json = (not ok) and d.as_user_error(e).causes[1]
  out.has_filter = d.filter_text ~= nil
  if d.filter_text then
    out.filtered = d.filter_text("\n  a\t\tb  \n\n\n\nc  ", { "NormalizeWS" })
    out.nfkc = d.filter_text("ﬁ\u{200B}x", { "NFKC", "RmZeroWidth" })
    out.url_enc = d.url_encode("a b/c")
  end
  if d.sha2_256 then
    out.sha2 = d.base64_encode(d.sha2_256("abc"))
    out.sha3 = d.base64_encode(d.sha3_256("abc"))
    out.rand = #d.random_bytes(5) .. ":" .. math.type(d.random_float())
    out.clock = d.monotonic_ms() < d.monotonic_ms()
    out.data_dir = type(d.data_dir)
    local half = rat.new(1, 2)
    out.rat = tostring(half + half) .. "|" .. tostring(rat.new(7.9)) .. "|" ..
              tostring(half < rat.new(1)) .. "|" .. tostring(rat.is_rat(half)) .. "|" ..
              half:numer() .. "/" .. half:denom()
  end
  d.sleep_seconds(2)
  local r = d.request(ctx, { method = "GET", url = "https://example.com", headers = {} })
  out.http = r.status
  lib.log({ message = "host done", level = "debug", n = 3 })
  return { data = d.json_stringify(out), consumed_gen = 0 }
end

-- The preloaded `lsqlite3` (newest V2) on a file of `data_dir`: each call's results as
-- text, one line per step, so both hosts' bindings are compared call by call.
function commands.sqlite(ctx, args)
  if package.preload.lsqlite3 == nil then return { data = "absent", consumed_gen = 0 } end
  local sq = require("lsqlite3")
  local out = {}
  local function add(...)
    local t = table.pack(...)
    for i = 1, t.n do t[i] = tostring(t[i]) end
    out[#out + 1] = table.concat(t, ",", 1, t.n)
  end
  local db = sq.open(__dflt.data_dir .. "/probe.sqlite")
  add(db:exec("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)"))
  add(db:exec("CREATE TABLE t (k TEXT)"), db:errmsg())
  add(select("#", db:busy_timeout(10)))
  local stmt = db:prepare("INSERT INTO t VALUES (?, ?)")
  add(stmt:bind_values("a", 1), stmt:step(), stmt:reset())
  add(stmt:step(), db:errmsg(), stmt:reset(), stmt:reset())
  add(stmt:bind_values("b", 2.5), stmt:step(), stmt:finalize())
  add(db:exec("BEGIN IMMEDIATE"), db:exec("INSERT INTO t VALUES ('c', 3)"), db:exec("ROLLBACK"))
  add(db:exec("SELECT nope FROM t"), db:errmsg())
  add(db:close())
  add(sq.open(__dflt.data_dir))
  return { data = table.concat(out, "\n"), consumed_gen = 0 }
end

local function dispatch(ctx, args, remaining_gen)
  local cmd, arg = string.match(args.prompt or "", "^([%w_]+):?(.*)$")
  args.arg = arg
  local fn = commands[cmd] or commands.walk
  return fn(ctx, args, remaining_gen)
end

function ExecPrompt(ctx, args, remaining_gen)
  return dispatch(ctx, args, remaining_gen)
end

function ExecPromptTemplate(ctx, args, remaining_gen)
  local t = llm.exec_prompt_template_transform(args)
  return walk(ctx, t.prompt, t.format)
end

function Setup(ctx)
  ctx.setup_done = true
  lib.log({ message = "setup" })
end

function Teardown(ctx)
  lib.log({ message = "teardown", calls = ctx.calls or 0 })
end
