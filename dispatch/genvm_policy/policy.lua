--- Policy terms: the op registry, the canonical value and the identity.
--
-- Spec: docs/SPEC.md §7 (Policy language), "Lua runtime notes".
-- Mirrors genvm_policy/core/policy.py. Admission and normalisation stay in
-- Python: the node reads the canonical policy value `genvm-policy compile`
-- wrote, and `from_value` checks its shape so the interpreter never meets a
-- malformed term.
--
-- Rules:
-- 1. A term is an array `[op, arg, …]`; `OPS` is the whole grammar: each
--    op's sort and its argument kinds in order, policy.py's table as
--    `genvm-policy vectors tables` wrote it into tables.lua.
-- 2. A policy's canonical value is the map `{version, filter, score, select,
--    mutate, on_failure, max_attempts}`; every slot and all twelve classes present.
-- 3. `from_value` fails closed, at the path of the first wrong item in value
--    order: `POL_KEY` (a slot or class missing or unknown), `POL_TYPE` (not a
--    term, or an argument of the wrong kind), `POL_OP` (unknown op),
--    `POL_SORT` (an op of another sort), `POL_ARITY` (argument count),
--    `POL_VALUE` (a name outside its set), `POL_LIMIT` (depth or a bound).
--    It does not re-normalise: the identity covers the value as given.
-- 4. Identity = `identity("policy", policy_value(p))`, hashed once per policy.

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local identity = require("genvm_policy.identity")

local M = {}

-- The grammar and its bounds are the reference's, generated into tables.lua.
local T = require("genvm_policy.tables").policy

local function set(list)
  local out = {}
  for i = 1, #list do
    out[list[i]] = true
  end
  return out
end

--- op -> {sort, argument kinds}, as in policy.py (rule 1).
M.OPS = T.OPS

--- Admission limits (§7.4); the node re-checks those that bound its work.
M.LIMITS = T.LIMITS

--- The error classes of §10, in their canonical order.
M.CLASSES = T.CLASSES

--- The language version a canonical value carries (§7.3).
M.VERSION = T.VERSION

--- Numeric route fields every catalog has: name -> {scale, lowest, highest}.
M.BUILTIN_FIELDS = T.BUILTIN_FIELDS

--- Call parameters a mutation may touch: name -> {scale, lowest, highest}.
M.PARAMS = T.PARAMS

--- Comparisons, and the numeric request facts a `request` comparison reads (§8.1),
--- as sets.
M.COMPARISONS = set(T.COMPARISONS)
M.REQUEST_FACTS = T.REQUEST_FACTS

--- Text filters the host applies, as GenVM's `filter_text` names them, as a set.
M.TEXT_FILTERS = set(T.TEXT_FILTERS)

local kind = encoding.kind
local SORT_NAME = { P = "predicate", S = "scorer", L = "selector", M = "mutation", A = "action" }

local function extend(path, seg)
  local out = { table.unpack(path) }
  out[#out + 1] = seg
  return out
end

local function fail(code, path, message)
  errors.raise(code, path, message, "compile the policy again with `genvm-policy compile`")
end

local function texts(v, path, n)
  if kind(v) ~= "array" then
    fail("POL_TYPE", path, "expected a list")
  end
  for i = 1, #v do
    if n then
      local row = v[i]
      if kind(row) ~= "array" or #row ~= n then
        fail("POL_TYPE", extend(path, i - 1), "expected a list of " .. n .. " items")
      end
      for j = 1, 2 do
        if kind(row[j]) ~= "text" then
          fail("POL_TYPE", extend(extend(path, i - 1), j - 1), "expected text")
        end
      end
      if n == 3 and kind(row[3]) ~= "integer" then
        fail("POL_TYPE", extend(extend(path, i - 1), 2), "expected an integer")
      end
    elseif kind(v[i]) ~= "text" then
      fail("POL_TYPE", extend(path, i - 1), "expected text")
    end
  end
end

local check_term

-- Check one argument of kind `k` at `path` (rule 3).
local function check_arg(k, v, path, depth)
  if k == "P" or k == "S" or k == "L" or k == "M" or k == "A" then
    check_term(v, k, path, depth + 1)
  elseif k == "text" then
    if kind(v) ~= "text" then
      fail("POL_TYPE", path, "expected text")
    end
  elseif k == "texts" then
    texts(v, path)
  elseif k == "routes" or k == "routes_ordered" then
    texts(v, path, 2)
  elseif k == "rvals" then
    texts(v, path, 3)
  elseif k == "int" then
    if kind(v) ~= "integer" then
      fail("POL_TYPE", path, "expected an integer")
    end
  elseif k == "dec" then
    if kind(v) ~= "array" or #v ~= 2 or kind(v[1]) ~= "integer" or kind(v[2]) ~= "integer"
        or v[2] < -9 or v[2] > 0 then
      fail("POL_TYPE", path, "expected a decimal [mantissa, exponent]")
    end
  elseif k == "cmp" or k == "fact" then
    if not (k == "cmp" and M.COMPARISONS or M.REQUEST_FACTS)[v] then
      fail("POL_VALUE", path, "`" .. tostring(v) .. "` is not a "
        .. (k == "cmp" and "comparison" or "request fact"))
    end
  elseif k == "param" then
    if not M.PARAMS[v] then
      fail("POL_VALUE", path, "`" .. tostring(v) .. "` is not a call parameter")
    end
  elseif k == "filters" then
    texts(v, path)
    for i = 1, #v do
      if not M.TEXT_FILTERS[v[i]] then
        fail("POL_VALUE", extend(path, i - 1), "`" .. v[i] .. "` is not a text filter")
      end
    end
  else -- "tiers": [[P, L], …]
    if kind(v) ~= "array" then
      fail("POL_TYPE", path, "expected a list")
    end
    for i = 1, #v do
      local row, where = v[i], extend(path, i - 1)
      if kind(row) ~= "array" or #row ~= 2 then
        fail("POL_TYPE", where, "expected a [filter, select] pair")
      end
      check_term(row[1], "P", extend(where, 0), depth + 1)
      check_term(row[2], "L", extend(where, 1), depth + 1)
    end
  end
end

-- Check that `t` is a term of sort `sort` at `path`, `depth` deep (rule 3).
function check_term(t, sort, path, depth)
  if depth > M.LIMITS.depth then
    fail("POL_LIMIT", path, "the term is nested more than " .. M.LIMITS.depth .. " deep")
  end
  if kind(t) ~= "array" or kind(t[1]) ~= "text" then
    fail("POL_TYPE", path, "expected a " .. SORT_NAME[sort] .. " term")
  end
  local op = M.OPS[t[1]]
  if not op then
    fail("POL_OP", extend(path, 0), "unknown op `" .. t[1] .. "`")
  end
  if op[1] ~= sort then
    fail("POL_SORT", path, "`" .. t[1] .. "` is a " .. SORT_NAME[op[1]] .. ", not a "
      .. SORT_NAME[sort])
  end
  local kinds = op[2]
  local rest = kinds[#kinds] and kinds[#kinds]:sub(2) == "*"
  local n = #t - 1
  if rest and n < #kinds or not rest and n ~= #kinds then
    fail("POL_ARITY", path, "`" .. t[1] .. "` takes " .. #kinds .. (rest and " or more" or "")
      .. " arguments, not " .. n)
  end
  for i = 2, #t do
    local k = (kinds[i - 1] or kinds[#kinds]):gsub("%*$", "")
    check_arg(k, t[i], extend(path, i - 1), depth)
  end
end

--- The canonical value of a policy (rule 2): the value it was read from.
function M.policy_value(p)
  return p.value
end

--- `identity("policy", policy_value(p))` (rule 4), hashed once per policy.
function M.policy_identity(p)
  if not p.identity then
    p.identity = identity.identity("policy", p.value)
  end
  return p.identity
end

-- -- reading the canonical value back -----------------------------------------

--- The policy whose canonical value (§7.3) is `v` (rules 2, 3). Returns
--- `{filter, score, select, mutate, on_failure, max_attempts, value}`;
--- `on_failure` maps each class to its action term.
function M.from_value(v)
  local keys = { "version", "filter", "score", "select", "mutate", "on_failure", "max_attempts" }
  if kind(v) ~= "map" then
    fail("POL_TYPE", {}, "a policy must be a map")
  end
  local unknown = {}
  for k in pairs(v) do  -- order-free: collected, then sorted by bytes
    local known = false
    for i = 1, #keys do
      known = known or keys[i] == k
    end
    if not known then
      -- A host key that is not text is named by its text, as the reference names it.
      unknown[#unknown + 1] = tostring(k)
    end
  end
  if #unknown > 0 then
    -- Report the byte-least unknown key, so the error is the same in every state.
    table.sort(unknown, encoding.bytes_less)
    fail("POL_KEY", { unknown[1] }, "unknown policy key `" .. unknown[1] .. "`")
  end
  for i = 1, #keys do
    if v[keys[i]] == nil then
      fail("POL_KEY", { keys[i] }, "the policy has no `" .. keys[i] .. "`")
    end
  end
  -- A float 2.0 equals 2 in Lua but is outside the model: the kind is checked first.
  if kind(v.version) ~= "integer" or v.version ~= M.VERSION then
    fail("POL_VALUE", { "version" }, "the policy version must be `" .. M.VERSION .. "`")
  end
  check_term(v.filter, "P", { "filter" }, 1)
  check_term(v.score, "S", { "score" }, 1)
  check_term(v.select, "L", { "select" }, 1)
  if kind(v.mutate) ~= "array" then
    fail("POL_TYPE", { "mutate" }, "expected a list of mutations")
  end
  for i = 1, #v.mutate do
    check_term(v.mutate[i], "M", { "mutate", i - 1 }, 1)
  end
  local plan = v.on_failure
  if kind(plan) ~= "map" then
    fail("POL_TYPE", { "on_failure" }, "expected a map of error classes")
  end
  local count = 0
  for _ in pairs(plan) do  -- order-free: counts keys
    count = count + 1
  end
  for i = 1, #M.CLASSES do
    local class = M.CLASSES[i]
    if plan[class] == nil then
      fail("POL_KEY", { "on_failure", class }, "the failure plan has no `" .. class .. "`")
    end
    check_term(plan[class], "A", { "on_failure", class }, 1)
  end
  if count ~= #M.CLASSES then
    fail("POL_KEY", { "on_failure" }, "the failure plan names an unknown class")
  end
  local cap = v.max_attempts
  if kind(cap) ~= "integer" or cap < 1 or cap > M.LIMITS.max_attempts then
    fail("POL_LIMIT", { "max_attempts" }, "`max_attempts` must be an integer in 1 … "
      .. M.LIMITS.max_attempts)
  end
  return { filter = v.filter, score = v.score, select = v.select, mutate = v.mutate,
    on_failure = plan, max_attempts = cap, value = v }
end

return M
