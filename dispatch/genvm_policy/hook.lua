--- GenVM host glue: load the compiled policy and the salt, decide, run the cascade, log.
--
-- Spec: docs/HOOK.md (all sections). The Python model is genvm_policy/hookmodel.py.
-- This is the only Lua module allowed `io`; it and `genvm_policy.parity` (what a call
-- keeps of the line's stock script) are the only ones using the host globals, and
-- they are the only places a float is made (milli-units and microseconds become
-- GenVM's numbers at the call boundary).
--
-- Rules:
-- 1. `load` runs once per VM, at the top level of the hook file: it reads the
--    salt and the compiled policy with `io.open`, verifies them (HOOK.md §3) and
--    compares the GenVM view with the compiled catalog (§4). Any fault is logged
--    once and the VM falls back to the stock policy (§7); it never raises.
-- 2. Per-session state lives only on `ctx[STATE]`; the table `M.load` returns
--    is a per-VM cache that no call mutates, so interleaved sessions cannot
--    see each other.
-- 3. Host calls happen only in this file's own call path: never in a sort
--    comparator, a gsub callback, a module body or a coroutine of our own.
-- 4. The provider's answer is returned untouched, whatever its shape; a non-module
--    error, or any error a host function raises during the call, is re-raised as
--    is; an `abort` re-raises the provider's own error; running out of routes is
--    the fatal user error `NO_PROVIDER_FOR_PROMPT` (§9).
-- 5. One decision record per call through `__dflt.log_json` (§8), logged before
--    the call ends however it ends; a `log_json` that raises loses only the record.
-- 6. The GenVM view is `catalog.view_index` / `view_from_providers`, the runtime's
--    one projection of `__llm.providers` (SPEC §5.6), which the vectors pin.
-- 7. Everything but the route, its order, the sampling parameters and the failure
--    actions is the line's stock script's, through `genvm_policy.parity` (HOOK.md §6,
--    §10): the prompt filters and EMPTY_PROMPT (V2), template filling (V1's `%` rule
--    included), the JSON instruction, the model flags, the budget's timeout and
--    exhaustion (newest V2) and the statistics in `data_dir/stats.sqlite`.
local encoding = require("genvm_policy.encoding")
local identity = require("genvm_policy.identity")
local prng = require("genvm_policy.prng")
local sha256 = require("genvm_policy.sha256")
-- The core is required here, at load, so no module body ever runs inside a call.
local catalog = require("genvm_policy.catalog")
local family = require("genvm_policy.family")
local policy = require("genvm_policy.policy")
local builtin = require("genvm_policy.builtin")
local request = require("genvm_policy.request")
local decision = require("genvm_policy.decision")
local cascade = require("genvm_policy.cascade")
local parity = require("genvm_policy.parity")
local reply = require("genvm_policy.reply")

local M = {}

-- The node layer's values (log messages, the compiled file, the stock catalog),
-- generated into hooktables.lua.
local T = require("genvm_policy.hooktables").hook

M.RECORD_MESSAGE = T.RECORD_MESSAGE
M.FAULT_MESSAGE = T.FAULT_MESSAGE
M.FORMAT = T.FORMAT
M.SPEC = T.SPEC
--- Catalogs up to this many canonical bytes are hashed in pure Lua at load (~10 ms).
--- Not generated: a cost threshold of this runtime's SHA-256 (HOOK.md §3 step 5).
M.SMALL_CATALOG = 16384
M.PUBLIC_SALT = T.PUBLIC_SALT
-- Not generated: the key of this glue's state on `ctx`, which only it reads.
M.STATE = "genvm_policy"

local PREFIX, SUFFIX = T.PREFIX, T.SUFFIX
local null = encoding.null

-- -- host helpers -------------------------------------------------------------

local function log(t)
  if type(__dflt) == "table" and type(__dflt.log_json) == "function" then
    pcall(__dflt.log_json, t)
  end
end

local function read_file(path)
  if type(io) ~= "table" or type(io.open) ~= "function" then
    return nil, "io.open is not available"
  end
  local ok, f = pcall(io.open, path, "rb")
  if not ok or f == nil then return nil, "cannot open `" .. path .. "`" end
  local ok2, data = pcall(f.read, f, "a")
  pcall(f.close, f)
  if not ok2 or type(data) ~= "string" then return nil, "cannot read `" .. path .. "`" end
  return data
end

local function fault_text(e)
  if type(e) == "table" and e.code then return e.code .. ": " .. tostring(e.message) end
  return tostring(e)
end

-- A SHA-256 the host offers (newest GenVM), trusted only after a known vector.
local function host_sha256()
  local f = type(__dflt) == "table" and __dflt.sha2_256 or nil
  if type(f) ~= "function" then return nil end
  local ok, got = pcall(f, "abc")
  if ok and got == sha256.sha256("abc") then return f end
  return nil
end

-- The identity text of a value of `kind` whose canonical bytes are `bytes`.
local function digest_text(kind, bytes, hash)
  local raw = hash(identity.TAG .. kind .. "\0" .. bytes)
  return identity.PREFIX .. string.format(string.rep("%02x", 32), string.byte(raw, 1, 32))
end

-- -- the GenVM view ---------------------------------------------------------------

local function same_view(a, b)
  for _, k in ipairs(catalog.VIEW_KEYS) do
    if a[k] ~= b[k] then return false end
  end
  return true
end

-- `(kept, unavailable, drift, extra)` of HOOK.md §4: one walk over the compiled
-- routes (already in route order) with look-ups in `catalog.view_index`, O(N), no sort.
local function compare_views(compiled, index)
  local kept, unavailable, drift, seen, left = {}, {}, {}, {}, {}
  for i, c in ipairs(compiled) do
    local l = index[c.provider .. "\0" .. c.model]
    if l == nil then
      unavailable[#unavailable + 1] = { c.provider, c.model }
    else
      seen[l] = true
      if same_view(c, l) then
        kept[#kept + 1] = i
      else
        drift[#drift + 1] = { c.provider, c.model }
      end
    end
  end
  for _, l in pairs(index) do  -- order-free: builds a set
    if not seen[l] then left[l] = true end
  end
  local extra = {}
  for n, l in ipairs(catalog.view_routes(index, left)) do extra[n] = { l.provider, l.model } end
  return kept, unavailable, drift, extra
end

-- -- loading (rule 1) ---------------------------------------------------------------

local function read_salt(path)
  local data, why = read_file(path)
  if data == nil then return nil, "salt_missing", why end
  if #data == 32 then return data end
  local hex = data:match("^(%x+)\n?$")
  if hex and #hex == 64 and not hex:find("[A-F]") then
    return (hex:gsub("..", function(pair) return string.char(tonumber(pair, 16)) end))
  end
  return nil, "salt_invalid", "the salt is neither 32 bytes nor 64 lower-case hex digits"
end

-- The compiled file's bytes after the grammar check of HOOK.md §3: no code can run.
local function compiled_bytes(text)
  if text:sub(1, #PREFIX) ~= PREFIX or text:sub(-#SUFFIX) ~= SUFFIX then
    return nil, "policy_format", "this is not a compiled genvm-policy file"
  end
  local format, start = text:match('^(%d+), bytes = "()', #PREFIX + 1)
  if format ~= tostring(M.FORMAT) then
    return nil, "policy_version", "the file has format `" .. tostring(format) .. "`"
  end
  local body = text:sub(start, -#SUFFIX - 1)
  -- With no `"` inside, the literal can only close at the suffix, so the chunk is one
  -- table constructor around one string (or fails to load): no code can run.
  if body:find('"', 1, true) then
    return nil, "policy_format", "the byte string is not in the compiled spelling"
  end
  local chunk = load(text, "=policy", "t", {})
  local ok, t = pcall(chunk)
  if not ok or type(t) ~= "table" or type(t.bytes) ~= "string" then
    return nil, "policy_format", "the chunk does not give the byte string"
  end
  return t.bytes
end

local function check_keys(t, keys)
  if encoding.kind(t) ~= "map" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end  -- order-free: counts keys
  for _, k in ipairs(keys) do
    if t[k] == nil then return false end
  end
  return n == #keys
end

-- Load and verify the compiled policy against the live view; a fault is (nil, name, detail).
local function load_policy(path, live, hash)
  local text, why = read_file(path)
  if text == nil then return nil, "policy_missing", why end
  local raw, name, detail = compiled_bytes(text)
  if raw == nil then return nil, name, detail end
  -- The byte range of each part: decode accepts only canonical bytes, so a
  -- part's range is its canonical encoding, hashed without encoding it again.
  local spans = {}
  local ok, value = pcall(encoding.decode, raw, spans)
  if not ok then return nil, "policy_corrupt", fault_text(value) end
  if not check_keys(value, T.KEYS) or not check_keys(value.identities, T.IDENTITY_KEYS) then
    return nil, "policy_corrupt", "the compiled value has the wrong keys"
  end
  if value.format ~= M.FORMAT or value.spec ~= M.SPEC then
    return nil, "policy_version", "compiled for another format or spec version"
  end
  local ids = value.identities
  local function part(key) return raw:sub(spans[key][1], spans[key][2]) end
  if digest_text("policy", part("policy"), sha256.sha256) ~= ids.policy then
    return nil, "policy_identity", "the policy does not match its recorded identity"
  end
  local cat = value.catalog
  local routes = encoding.kind(cat) == "map" and cat.routes
  if encoding.kind(routes) ~= "array" then
    return nil, "policy_corrupt", "the compiled catalog has no routes"
  end
  if hash ~= nil or #raw <= M.SMALL_CATALOG then
    local h = hash or sha256.sha256
    local view = catalog.genvm_view({ value = cat })
    local ok3, vid = pcall(function() return digest_text("genvm-view", encoding.encode(view), h) end)
    if not ok3 or digest_text("catalog", part("catalog"), h) ~= ids.catalog
        or vid ~= ids["genvm-view"] then
      return nil, "policy_identity", "the catalog does not match its recorded identity"
    end
  end
  local kept, unavailable, drift, extra = compare_views(routes, live)
  local restricted = {}
  for k, v in pairs(cat) do restricted[k] = v end  -- order-free: copies a map
  restricted.routes = encoding.array({})
  for n, i in ipairs(kept) do restricted.routes[n] = routes[i] end
  local ok5, engine_catalog = pcall(catalog.from_value, encoding.map(restricted))
  local ok6, engine_policy = pcall(policy.from_value, value.policy)
  if not (ok5 and ok6) then
    return nil, "policy_corrupt", fault_text(ok5 and engine_policy or engine_catalog)
  end
  -- Step 4 hashed this very value: fill the cache `policy.policy_identity` keeps.
  engine_policy.identity = ids.policy
  return {
    mode = "policy", catalog = engine_catalog, policy = engine_policy,
    ids = { view = ids["genvm-view"], catalog = ids.catalog, policy = ids.policy },
    unavailable = unavailable, drift = drift, extra = extra,
  }
end

-- The stock fallback over the live view (HOOK.md §7).
local function load_stock(index, hash)
  local view = catalog.view_from_providers(nil, index)
  local live = view.routes
  local h = hash or sha256.sha256
  local routes = encoding.array({})
  for i, v in ipairs(live) do
    local r = { kind = T.STOCK_KIND, family = (family.family_of(v.provider, v.model)),
      tier = null, price_in = null, price_out = null, context = null, has_tee = false,
      no_log = false, fields = encoding.map({}) }
    for k, x in pairs(v) do r[k] = x end  -- order-free: copies a map
    routes[i] = encoding.map(r)
  end
  local tiers = {}
  for i, tier in ipairs(T.STOCK_TIERS) do tiers[i] = tier end
  local cat = encoding.map({ version = catalog.VERSION, tiers = encoding.array(tiers),
    default_tier = null, fields = encoding.array({}), routes = routes })
  -- `stock-greybox` routes on every node: chains where it has them, priority order
  -- where it has none (SPEC §9.3).
  local cid = digest_text("catalog", encoding.encode(cat), h)
  local stock = builtin.builtin("stock-greybox")
  local value = stock.value
  return {
    mode = "stock", stock = "stock-greybox", catalog = catalog.from_value(cat),
    policy = stock,
    ids = { view = digest_text("genvm-view", encoding.encode(view), h), catalog = cid,
      policy = identity.identity("policy", value) },
    unavailable = {}, drift = {}, extra = {},
  }
end

local CLASS_SEED = T.CLASS_SEED

M.UNROUTABLE_MESSAGE = T.UNROUTABLE_MESSAGE

-- The classes the VM's policy plans no route for, under some role, on the routes
-- GenVM offers now (SPEC §9.4): a node that drifted (a backend lost its key) says
-- so once, at load. A class whose decision raises is left to the call, which logs
-- `decide_failed`.
local function reads_role(t)
  if type(t) ~= "table" or t[1] == "role_in" then return type(t) == "table" end
  for _, x in ipairs(t) do if reads_role(x) then return true end end
  return false
end

local function unroutable(vm)
  local names = {}
  if vm.catalog == nil then return names end
  local p = vm.policy.value
  -- Only a policy that reads the role can route one role and not another.
  local roles = (reads_role(p.filter) or reads_role(p.score) or reads_role(p.select))
    and request.ROLES or { "unknown" }
  for _, c in ipairs(request.CLASSES) do
    for _, role in ipairs(roles) do
      local ok, d = pcall(function()
        local req = request.make(c[2], c[3], c[4], nil, nil, nil, nil, role)
        return decision.decide(vm.catalog, vm.policy, req, CLASS_SEED, vm.ids.catalog)
      end)
      if ok and #d.routes == 0 then
        names[#names + 1] = c[1]
        break
      end
    end
  end
  return names
end

--- Load the salt and the compiled policy once per VM (rule 1). Never raises.
function M.load(paths)
  local providers = type(__llm) == "table" and __llm.providers or nil
  local live = catalog.view_index(providers)
  local hash = host_sha256()
  local salt, salt_fault, salt_why = read_salt(paths.salt)
  local vm, fault, why
  if salt == nil then
    fault, why = salt_fault, salt_why
  else
    local ok, a, b, c = pcall(load_policy, paths.policy, live, hash)
    if not ok then
      fault, why = "policy_corrupt", fault_text(a)
    else
      vm, fault, why = a, b, c
    end
  end
  if vm == nil then
    log({ level = "warning", message = M.FAULT_MESSAGE, fault = fault, detail = why,
      policy_path = paths.policy })
    local ok, stock = pcall(load_stock, live, hash)
    vm = ok and stock or { mode = "broken", ids = {}, unavailable = {}, drift = {}, extra = {} }
    vm.fault = fault
  end
  vm.live, vm.hash = live, hash
  vm.salt = salt or M.PUBLIC_SALT
  vm.salt_state = salt and "node" or "none"
  if #vm.drift > 0 or #vm.extra > 0 then
    log({ level = "warning", message = "genvm-policy drift", drift = vm.drift,
      extra = vm.extra })
  end
  local none = unroutable(vm)
  if #none > 0 then
    log({ level = "warning", message = M.UNROUTABLE_MESSAGE, classes = none, mode = vm.mode })
  end
  return vm
end

-- -- one call (rules 2-5) -----------------------------------------------------------

local function text_of(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  return type(v) == "string" and v or null
end

local function session_state(ctx)
  local state = rawget(ctx, M.STATE)
  if type(state) ~= "table" then
    state = { calls = 0, stats = { keys = {}, by = {} } }
    rawset(ctx, M.STATE, state)
  end
  return state
end

-- The call as HOOK.md §6 shapes it, with its stock messages and request value.
local function build_call(ctx, entry, args, prompt)
  local v1 = ctx.cookie ~= nil
  local images = type(args.images) == "table" and args.images or {}
  local call = { entry = entry, args = args, v1 = v1, prompt = prompt, images = images }
  local max_tokens
  if entry == "prompt" then
    call.format = args.response_format == "json" and "json" or "text"
    -- The older line's prompt default is its own (HOOK.md §6): the reference has no
    -- request default for it, so it is written here.
    max_tokens = v1 and 1000 or request.DEFAULT_MAX_TOKENS.prompt
  else
    call.format = request.TEMPLATE_FORMAT[entry]
    max_tokens = request.DEFAULT_MAX_TOKENS.template
  end
  -- Built once before anything is decided, so a template V1's stock cannot fill
  -- fails here, before any provider call, as stock's does.
  call.stock = parity.messages(call, {})
  local n, most = #images, request.LIMITS.images[2]
  call.value = encoding.map({
    entry = entry, format = call.format, images = n < most and n or most,
    -- `ctx.role` exists only in the newest V2 line; anything else is `unknown`.
    role = (ctx.role == "leader" or ctx.role == "validator") and ctx.role or "unknown",
    prompt_bytes = #call.stock.user + (call.stock.system and #call.stock.system or 0),
    temperature = request.DEFAULT_TEMPERATURE, max_tokens = max_tokens,
  })
  return call
end

-- Non-negative milli-units as the number GenVM wants: the double nearest to the exact
-- decimal, read from its text (the core stays integer; no division anywhere).
local function milli(n)
  return tonumber(string.format("%d.%03d", n // 1000, n % 1000))
end

local function provider_request(attempt, call, timeout)
  local p = attempt.params
  local msg = call.stock
  if #p.text_filters > 0 then
    local names = {}
    for i, name in ipairs(p.text_filters) do names[i] = name end
    msg = parity.messages(call, names)
  end
  return {
    provider = attempt.provider, model = attempt.model, format = call.format, timeout = timeout,
    prompt = {
      system_message = msg.system, user_message = msg.user,
      temperature = milli(p.temperature),
      images = call.images, max_tokens = p.max_tokens,
      use_max_completion_tokens = p.use_max_completion_tokens, seed = p.seed,
      -- `top_p` only where GenVM forwards `extra` to the provider (the newest V2,
      -- told by its global `rat`); older lines would drop it silently (SPEC §8.4).
      extra = p.top_p ~= nil and rat ~= nil and { top_p = milli(p.top_p) } or nil,
    },
  }
end

--- Setup: the session's state and budget (both are also made lazily).
function M.setup(ctx)
  local state = session_state(ctx)
  parity.budget(ctx, state)
end

--- Teardown: add the session's statistics to `data_dir/stats.sqlite`; never raises.
function M.teardown(ctx)
  local ok, path, why = parity.write(session_state(ctx).stats)
  if not ok then
    log({ level = "warning", message = "genvm-policy: statistics not written", path = path,
      detail = why })
  end
end

local RERAISE = setmetatable({}, { __name = "genvm-policy reraise" })

-- The cascade's trace over the outcomes `given` (then success): the actions the plan
-- took before a host function raised, for the record (HOOK.md §8). Pure: no host call.
local function replay_trace(d, given)
  local n = 0
  local ok, outcome = pcall(cascade.run, d, function()
    n = n + 1
    return given[n] or cascade.success(nil)
  end, nil)
  return ok and outcome.trace or {}
end

-- The record of decision `d`: its request identity and seed commitment are the
-- ones the decision identity covers, so each is hashed once per call.
local function record_of(vm, material, request_value, d)
  local shown = {}
  for k, v in pairs(material) do  -- order-free: copies a map
    if v ~= null then shown[k] = v end
  end
  local ids = decision.identities(d)
  return {
    level = "info", message = M.RECORD_MESSAGE, record = 1, mode = vm.mode,
    stock = vm.stock, fault = vm.fault, salt = vm.salt_state,
    identities = { view = vm.ids.view, catalog = vm.ids.catalog, policy = vm.ids.policy,
      request = ids.request },
    seed = ids.seed,
    material = shown, request = request_value,
    unavailable = vm.unavailable, drift = vm.drift, attempts = {},
  }
end

--- One entry point call: decide, run the cascade, log, return or raise (rules 2-5).
function M.exec(vm, ctx, entry, args, remaining)
  -- Before anything else, as the newer line's stock script does: its prompt filters,
  -- and an empty result is the non-fatal EMPTY_PROMPT with no provider call.
  local prompt, empty
  if entry == "prompt" then
    prompt, empty = parity.stock_prompt(ctx, args)
    if empty then
      return __dflt.user_error({ causes = { "EMPTY_PROMPT" }, fatal = false, ctx = {} })
    end
  end
  local state = session_state(ctx)
  local call_index = state.calls
  state.calls = call_index + 1
  local host = type(ctx.host_data) == "table" and ctx.host_data or {}
  local material = encoding.map({
    tx_id = text_of(host.tx_id), node_address = text_of(host.node_address),
    session = text_of(ctx.genvm_id ~= nil and ctx.genvm_id or ctx.cookie),
    call = call_index,
  })
  if material.tx_id == null and not state.warned then
    state.warned = true
    log({ level = "warning", message = "genvm-policy: no tx_id in host_data",
      detail = "seeds derive from the session id and the call counter" })
  end
  if vm.mode == "broken" then
    log({ level = "error", message = M.FAULT_MESSAGE, fault = "runtime_broken" })
    return __dflt.user_error({ causes = { "NO_PROVIDER_FOR_PROMPT" }, fatal = true,
      ctx = { fault = vm.fault } })
  end
  local shaped = build_call(ctx, entry, args, prompt)
  local request_value = shaped.value
  local key = prng.call_key(vm.salt, material)
  local req = request.from_value(request_value)
  local ok_d, d = pcall(decision.decide, vm.catalog, vm.policy, req, key, vm.ids.catalog)
  if not ok_d then
    -- a policy that cannot decide this call: logged once per VM, stock for this call
    if not vm.stock_vm then
      log({ level = "warning", message = M.FAULT_MESSAGE, fault = "decide_failed",
        detail = fault_text(d) })
      vm.stock_vm = load_stock(vm.live, vm.hash)
      vm.stock_vm.fault, vm.stock_vm.salt, vm.stock_vm.salt_state = "decide_failed", vm.salt,
        vm.salt_state
    end
    vm = vm.stock_vm
    d = decision.decide(vm.catalog, vm.policy, req, key, vm.ids.catalog)
  end
  local record = record_of(vm, material, request_value, d)
  record.identities.decision = decision.identity(d)
  local budget = parity.budget(ctx, state)
  local timeout, short = parity.timeout(budget, remaining)
  if short or (budget and budget.over) then
    record.outcome = { kind = "exhausted" }
    log(record)
    return __llm.exhaust()
  end
  local result, raised, seen, given = nil, nil, record.attempts, {}
  local function call(attempt)
    -- Built first: a host filter that raises here leaves no attempt behind.
    local sent = provider_request(attempt, shaped, timeout)
    local step = { provider = attempt.provider, model = attempt.model, result = "non_user",
      action = "reraise" }
    seen[#seen + 1] = step
    local ok, res = pcall(__llm.exec_prompt_in_provider, ctx, sent)
    if ok then
      result, step.result, step.action = res, "ok", nil
      parity.count(state.stats, attempt, res)
      parity.spend(budget, res)
      given[#seen] = cascade.success(nil)
      return given[#seen]
    end
    parity.count(state.stats, attempt, nil)
    raised = res
    -- A raising decoder leaves the step `non_user`: the error was not decoded.
    local err = __dflt.as_user_error(res)
    if err == nil then error(RERAISE, 0) end
    step.kind, step.status, step.code, step.retry_after_ms =
      reply.failure_of(err, __dflt.json_parse)
    given[#seen] = cascade.failure(step.kind, step.status, step.code, step.retry_after_ms)
    step.result, step.action = cascade.classify(given[#seen]), nil
    return given[#seen]
  end
  local function wait(ms)
    __dflt.sleep_seconds(milli(ms))
  end
  local ok, outcome = pcall(cascade.run, d, call, wait)
  if not ok and outcome ~= RERAISE then
    raised = outcome  -- a host function (or the runtime) raised: end the call with it
  end
  local trace = ok and outcome.trace or replay_trace(d, given)
  for i, step in ipairs(seen) do
    step.action = step.action or (trace[i] and trace[i].action)
  end
  return M.finish(record, ok and outcome or nil, result, raised, decision.identity(d))
end

--- Log the record and end the call as HOOK.md §9 says (rule 4).
function M.finish(record, outcome, result, raised, decision_id)
  if outcome == nil then
    record.outcome = { kind = "reraised" }
    log(record)
    error(raised, 0)
  end
  if outcome.ok then
    record.outcome = { kind = "ok" }
    log(record)
    return result
  end
  local last = outcome.error_class
  if outcome.code == "abort" then
    record.outcome = { kind = "abort", class = last }
    log(record)
    error(raised, 0)
  end
  record.outcome = { kind = "no_provider", class = last }
  log(record)
  return __dflt.user_error({ causes = { "NO_PROVIDER_FOR_PROMPT" }, fatal = true,
    ctx = { attempts = #record.attempts, last_class = last or "none",
      decision = decision_id } })
end

return M
