--- What a call keeps of the node's stock script: texts, budget and statistics.
--
-- Spec: docs/HOOK.md §6 (the request, budget, statistics) and §10 (stock parity);
-- ../shared/GENVM.md §4 ("Stock default script"). Host glue beside `hook.lua`,
-- which alone calls it; the test suite's stock model (`tests/support/genvmfake/stock.py`)
-- is what it is checked against.
--
-- Rules:
-- 1. Everything here is the stock script of the line the call runs in (`v1` when
--    `ctx.cookie` is present): only the route, order, sampling and failure actions
--    are the policy's.
-- 2. Texts: the newer line filters the `ExecPrompt` prompt first (`stock_prompt`);
--    the JSON instruction is lib-llm's; templates are filled in one pass, a missing
--    value left as its placeholder, the older line's `%` read as gsub reads it. A
--    policy's filters run only on the contract's texts (SPEC §8.4).
-- 3. Budget (newest line): exact `rat` arithmetic through the host's own metamethods,
--    products and comparisons only, never a division written here.
-- 4. Statistics (newest line): counted on the session's state, written by Teardown
--    through the preloaded `lsqlite3`; a failure is returned, never raised.
-- 5. No host call that yields: everything here is synchronous.

local M = {}

-- GenVM's own texts and bounds, recorded in the node layer (hookmodel.py) and
-- generated into hooktables.lua.
local T = require("genvm_policy.hooktables").parity

--- Template entry -> its key in `__llm.templates`.
M.TEMPLATE_KEY = T.TEMPLATE_KEY
-- The system message lib-llm's prompt transform gives a json request (GENVM.md §4).
M.JSON_INSTRUCTION = T.JSON_INSTRUCTION
-- The filters the newer line's stock script applies to every ExecPrompt prompt first.
M.STOCK_FILTERS = T.STOCK_FILTERS
M.STATS_FILE = T.STATS_FILE
local STATS_TABLE, STATS_ADD = T.STATS_TABLE, T.STATS_ADD
-- The timeout is remaining ÷ per × NUM/DEN seconds, sent within LO … HI microseconds.
local NUM, DEN = T.TIMEOUT_FACTOR[1], T.TIMEOUT_FACTOR[2]
local LO, HI = T.TIMEOUT_MICROS[1], T.TIMEOUT_MICROS[2]
local US = 1000000  -- microseconds a second: the unit of LO and HI, not a tunable

--- The `ExecPrompt` prompt after the line's stock filters, and whether stock ends
--- the call in EMPTY_PROMPT for it (rule 2).
function M.stock_prompt(ctx, args)
  local prompt = type(args.prompt) == "string" and args.prompt or ""
  if ctx.cookie == nil and type(__dflt.filter_text) == "function" then
    prompt = __dflt.filter_text(prompt, M.STOCK_FILTERS)
    return prompt, prompt == ""
  end
  return prompt, false
end

-- -- texts (rule 2) -----------------------------------------------------------------

local function filtered(s, names)
  if #names == 0 or type(__dflt.filter_text) ~= "function" then return s end
  return __dflt.filter_text(s, names)
end

-- Fill `#{name}` placeholders from the flat template args in one pass, without gsub
-- callbacks: a placeholder without a value stays as it is, as in stock. A value is
-- first filtered with the policy's `names`; V1's stock fills through gsub's
-- replacement string, so there a value's `%` means what gsub makes of it (`%%` is
-- `%`, `%0`/`%1` the placeholder, anything else the same error stock raises).
local function fill(template, args, v1, names)
  if type(template) ~= "string" then return "" end
  local out, pos = {}, 1
  while true do
    local s, e, name = template:find("#{([%w_]+)}", pos)
    if s == nil then
      break
    end
    out[#out + 1] = template:sub(pos, s - 1)
    local v = args[name]
    if v == nil then
      out[#out + 1] = template:sub(s, e)
    else
      v = filtered(type(v) == "string" and v or tostring(v), names)
      out[#out + 1] = v1 and (template:sub(s, e):gsub("^.+$", v)) or v
    end
    pos = e + 1
  end
  out[#out + 1] = template:sub(pos)
  return table.concat(out)
end

--- The messages of `call` (its `entry`, `format`, `args`, `prompt`, `v1`) with the
--- policy filters `names` (rule 2): the prompt already carries the line's stock
--- filtering; the JSON instruction and the template wording are never filtered.
function M.messages(call, names)
  if call.entry == "prompt" then
    return { user = filtered(call.prompt, names),
      system = call.format == "json" and M.JSON_INSTRUCTION or nil }
  end
  local all = type(__llm.templates) == "table" and __llm.templates or {}
  local t = all[M.TEMPLATE_KEY[call.entry]]
  t = type(t) == "table" and t or {}
  return { user = fill(t.user, call.args, call.v1, names),
    system = fill(t.system, call.args, call.v1, names) }
end

-- -- the budget (newest GenVM; rule 3) --------------------------------------------

-- A host rational from a rat, a number or decimal text; nil when the host has none.
local function rat_of(v)
  if type(rat) ~= "table" or type(rat.new) ~= "function" then return nil end
  if type(v) == "userdata" then return v end
  if type(v) == "number" or type(v) == "string" then return rat.new(math.tointeger(v) or v) end
  return nil
end

--- The session's budget kept on `state`, made once (in Setup, or lazily): false when
--- the host has no `exhaust` or no positive `gas_data.genPerTimeUnit` (all of it off).
function M.budget(ctx, state)
  if state.budget ~= nil then return state.budget end
  state.budget = false
  if type(__llm.exhaust) ~= "function" then return false end
  local gas = type(ctx.gas_data) == "table" and ctx.gas_data or {}
  local ok, b = pcall(function()
    local per, zero = rat_of(gas.genPerTimeUnit), rat_of(0)
    if per == nil or per <= zero then return false end
    local units = rat_of(ctx.initial_time_units_allocation) or zero
    return { per = per, allowance = per * units, spent = zero, over = false }
  end)
  state.budget = ok and b or false
  return state.budget
end

-- `floor(10^6 · t)` for `t = r3 ÷ per2` known to lie in [1, 60]: bisection with the
-- host's own rat products and comparisons, so no division is written here.
local function micros(r3, per2)
  local lo, hi = LO, HI
  while lo < hi do
    local mid = (lo + hi + 1) // 2
    if per2 * rat_of(mid) <= r3 then lo = mid else hi = mid - 1 end
  end
  return lo
end

--- `(timeout, short)` of one call: `remaining ÷ genPerTimeUnit × 3/2` seconds, dropped
--- when not positive or over 60; `short` when it is under one second. Compared
--- exactly (`t ≤ 0` is `3·remaining ≤ 0`, and so on); the timeout sent is `t`
--- floored to the microsecond, made a number from its decimal text.
function M.timeout(b, remaining)
  if not b then return nil, false end
  local ok, secs, short = pcall(function()
    local r3, per2 = rat_of(remaining) * rat_of(NUM * US), b.per * rat_of(DEN)
    if r3 <= rat_of(0) or r3 > per2 * rat_of(HI) then return nil, false end
    if r3 < per2 * rat_of(LO) then return nil, true end
    local us = micros(r3, per2)
    return tonumber(string.format("%d.%06d", us // US, us % US)), false
  end)
  if not ok then return nil, false end
  return secs, short
end

--- A success adds its `consumed_gen`; once the allowance is spent, later calls exhaust.
function M.spend(b, res)
  if not b then return end
  pcall(function()
    local gen = type(res) == "table" and rat_of(res.consumed_gen) or nil
    if gen ~= nil then b.spent = b.spent + gen end
    b.over = b.spent >= b.allowance
  end)
end

-- -- statistics (newest GenVM; rule 4) --------------------------------------------

--- Count one attempt on `stats`: a failure (`res` nil) or an answer's tokens.
function M.count(stats, attempt, res)
  local key = attempt.provider .. "/" .. attempt.model
  local row = stats.by[key]
  if row == nil then
    row = { errors = 0, input_tokens = 0, output_tokens = 0 }
    stats.by[key] = row
    stats.keys[#stats.keys + 1] = key
  end
  if res == nil then
    row.errors = row.errors + 1
    return
  end
  for _, k in ipairs({ "input_tokens", "output_tokens" }) do
    local n = type(res) == "table" and math.type(res[k]) == "integer" and res[k] or 0
    row[k] = row[k] + (n > 0 and n or 0)
  end
end

local function write_stats(sqlite, path, stats)
  local db, _, why = sqlite.open(path)
  if db == nil then error("cannot open `" .. path .. "`: " .. tostring(why), 0) end
  local function check(rc)
    if rc ~= sqlite.OK and rc ~= sqlite.DONE then error(tostring(db:errmsg()), 0) end
  end
  local ok, err = pcall(function()
    if type(db.busy_timeout) == "function" then db:busy_timeout(1000) end
    check(db:exec(STATS_TABLE))
    check(db:exec("BEGIN IMMEDIATE"))
    local stmt = db:prepare(STATS_ADD)
    if stmt == nil then error(tostring(db:errmsg()), 0) end
    for _, key in ipairs(stats.keys) do
      local row = stats.by[key]
      check(stmt:bind_values(key, row.errors, row.input_tokens, row.output_tokens))
      check(stmt:step())
      stmt:reset()
    end
    stmt:finalize()
    check(db:exec("COMMIT"))
  end)
  if not ok then pcall(db.exec, db, "ROLLBACK") end
  db:close()
  if not ok then error(err, 0) end
end

--- Add `stats` to `data_dir/stats.sqlite`: `(true)` when written or nothing to do,
--- else `(false, path, why)`. Never raises.
function M.write(stats)
  local dir = type(__dflt) == "table" and __dflt.data_dir or nil
  local preload = type(package) == "table" and type(package.preload) == "table"
    and package.preload or {}
  if #stats.keys == 0 or type(dir) ~= "string" or preload.lsqlite3 == nil then return true end
  local ok, sqlite = pcall(require, "lsqlite3")
  local path = dir:gsub("/+$", "") .. "/" .. M.STATS_FILE
  local ok2, why = false, "lsqlite3 did not load"
  if ok and type(sqlite) == "table" then ok2, why = pcall(write_stats, sqlite, path, stats) end
  if not ok2 then return false, path, tostring(why) end
  stats.keys, stats.by = {}, {}
  return true
end

return M
