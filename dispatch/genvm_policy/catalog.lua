--- The validator catalog: the routes GenVM offers, with the operator's facts.
--
-- Spec: docs/SPEC.md §5 (The validator catalog), "Lua runtime notes".
-- Mirrors genvm_policy/catalog.py, read side only: the node never builds a
-- catalog from YAML, it reads the canonical catalog value (§5.5) that
-- `genvm-policy compile` wrote, decoded by `encoding.decode`.
--
-- Rules:
-- 1. `from_value` accepts exactly the shape of §5.5 and fails closed with
--    `CAT_TYPE` at the path of the first wrong item, in value order.
-- 2. Routes must be strictly increasing by (provider bytes, model bytes)
--    (§5.2 rule 4), compared byte by byte: the array position is the rank
--    of §8, so no sort runs on the node and no order depends on the locale.
-- 3. Per-route facts are read once here into plain Lua fields; absent facts
--    (null) become nil. The identity is hashed only when asked for.
-- 4. Cost: a well-formed route is read with plain type tests and no path
--    tables; only a malformed one builds the path of its first wrong item.
-- 5. The GenVM view (§5.6) of `__llm.providers` is computed here, once, for
--    the hook and the vector runner alike: `view_index` projects each route
--    (O(N), no order needed), `view_from_providers` lists it in route order,
--    the value genvm_policy/catalog.py's `view_from_providers` gives.

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local identity = require("genvm_policy.identity")
local numeric = require("genvm_policy.numeric")

local M = {}

local T = require("genvm_policy.tables").catalog
M.VERSION = T.VERSION
M.MAX_ROUTES = T.MAX_ROUTES
M.MAX_NAME_BYTES = T.MAX_NAME_BYTES

local kind, null, bytes_less = encoding.kind, encoding.null, encoding.bytes_less
local mathtype = math.type

-- A route's keys in order, and key -> what it holds: "text", "bool", "int?" (an
-- integer or null), "text?", "ints" (a map of integers), as catalog.py has them.
local ROUTE_KEYS, ROUTE_KINDS = T.ROUTE_KEYS, T.ROUTE_KINDS
-- What a message says each kind is.
local KIND_TEXT = { text = "text", bool = "a boolean", ["int?"] = "an integer or null",
  ["text?"] = "text or null", ints = "a map" }

local function bad(path, message)
  errors.raise("CAT_TYPE", path, message, "compile the policy again with `genvm-policy compile`")
end

-- The map `v` with exactly the keys `keys`; the first missing or extra key fails.
-- The common case (exactly those keys) costs one count and one look-up per key
-- (rule 4); only a wrong map pays for finding which key to report.
local function exact_map(v, keys, path)
  if kind(v) ~= "map" then
    bad(path, "expected a map")
  end
  local count, key = 0, next(v)
  while key ~= nil do
    count = count + 1
    key = next(v, key)
  end
  for i = 1, #keys do
    if v[keys[i]] == nil then
      bad(path, "the key `" .. keys[i] .. "` is missing")
    end
  end
  if count == #keys then
    return v
  end
  local known, extra = {}, {}
  for i = 1, #keys do
    known[keys[i]] = true
  end
  for k in pairs(v) do  -- order-free: collected, then sorted by bytes
    if not known[k] then
      -- A host key that is not text is named by its text, as the reference names it.
      extra[#extra + 1] = tostring(k)
    end
  end
  table.sort(extra, bytes_less)
  bad(path, "the key `" .. extra[1] .. "` is unknown")
end

local function array_of(v, path)
  if kind(v) ~= "array" then
    bad(path, "expected an array")
  end
  return v
end

local function fact(v, what, path)
  local k = kind(v)
  if what == "text" and k == "text" or what == "bool" and k == "boolean"
      or what == "ints" and k == "map" then
    return v
  end
  if what == "int?" and (k == "integer" or k == "null")
      or what == "text?" and (k == "text" or k == "null") then
    return v ~= null and v or nil
  end
  bad(path, "expected " .. KIND_TEXT[what])
end

-- The value of route fact `v` when it has the kind `what` holds; else nil, and
-- `fact` then reports it. Plain type tests, no path built (rule 4).
local function fast_fact(v, what)
  local t = type(v)
  if what == "text" then
    return t == "string" and v or nil, t == "string"
  elseif what == "bool" then
    return v, t == "boolean"
  elseif v == null then
    return nil, what ~= "ints"
  elseif what == "int?" then
    return v, mathtype(v) == "integer"
  elseif what == "text?" then
    return v, t == "string"
  end
  return v, kind(v) == "map"
end

local function read_route(raw, n)
  exact_map(raw, ROUTE_KEYS, { "routes", n })
  local r = {}
  for i = 1, #ROUTE_KEYS do
    local key = ROUTE_KEYS[i]
    local what = ROUTE_KINDS[key]
    local value, ok = fast_fact(raw[key], what)
    if not ok then
      fact(raw[key], what, { "routes", n, key })
    end
    r[key] = value
  end
  local fields, wrong = {}, nil
  for name, value in pairs(r.fields) do  -- order-free: copies a map; a wrong one is sorted
    if mathtype(value) ~= "integer" then
      wrong = wrong or {}
      wrong[#wrong + 1] = tostring(name)
    end
    fields[name] = value
  end
  if wrong then
    -- The byte-least wrong field, so the error is the same in every state.
    table.sort(wrong, bytes_less)
    bad({ "routes", n, "fields", wrong[1] }, "expected an integer")
  end
  r.fields = fields
  return r
end

-- -- canonical values and identities -----------------------------------------------

--- The route `(provider, model)`, or nil when the catalog does not offer it.
function M.route(c, provider, model)
  return c.index[provider .. "\0" .. model]
end

--- The catalog's canonical value (§5.5): the value it was read from.
function M.catalog_value(c)
  return c.value
end

--- `identity("catalog", catalog_value(c))`, hashed once per catalog (rule 3).
function M.catalog_identity(c)
  if not c.identity then
    c.identity = identity.identity("catalog", c.value)
  end
  return c.identity
end

-- -- the GenVM view (§5.6) ---------------------------------------------------------

--- The keys of a view route, in the order §5.6 lists them.
M.VIEW_KEYS = T.VIEW_KEYS

--- The GenVM view of the catalog `c` (§5.6): the view keys of each route, route order.
--- Only `c.value` is read, so `{ value = v }` gives the view of a catalog value `v`
--- not read yet (the hook hashes it before `from_value` runs).
function M.genvm_view(c)
  local raw, routes = c.value.routes, {}
  for i = 1, #raw do
    local entry = {}
    for _, key in ipairs(M.VIEW_KEYS) do
      entry[key] = raw[i][key]
    end
    routes[i] = encoding.map(entry)
  end
  return encoding.map({ version = M.VERSION, routes = encoding.array(routes) })
end

-- A greybox position or priority: an integer (never a float) in `lo .. MAX`, else null.
local function view_int(t, key, lo)
  if type(t) ~= "table" then
    return null
  end
  local v = t[key]
  if mathtype(v) == "integer" and v >= lo and v <= numeric.MAX then
    return v
  end
  return null
end

--- Every route of `providers` (a `__llm.providers` table) as a view route map,
--- keyed by provider NUL model: O(N), no sort; a model whose `enabled` is `false`
--- is left out and unset `meta` (nil, NULL userdata, any non-table) reads as none.
function M.view_index(providers)
  local index = {}
  for provider, backend in pairs(type(providers) == "table" and providers or {}) do  -- order-free: builds a keyed index
    local meta = type(backend) == "table" and backend.meta or nil
    local models = type(backend) == "table" and backend.models or nil
    for model, spec in pairs(type(models) == "table" and models or {}) do  -- order-free: builds a keyed index
      if type(spec) == "table" and spec.enabled ~= false then
        local chains = type(spec.meta) == "table" and spec.meta.greybox or nil
        index[provider .. "\0" .. model] = encoding.map({
          provider = provider, model = model,
          json = spec.supports_json == true, image = spec.supports_image == true,
          max_completion_tokens = spec.use_max_completion_tokens == true,
          greybox_text = view_int(chains, "text", 0),
          greybox_image = view_int(chains, "image", 0),
          priority = view_int(meta, "priority", -numeric.MAX),
        })
      end
    end
  end
  return index
end

local function route_less(a, b)
  if a.provider ~= b.provider then
    return bytes_less(a.provider, b.provider)
  end
  return bytes_less(a.model, b.model)
end

--- The routes of a `view_index` in route order; with `pick`, only those it marks.
function M.view_routes(index, pick)
  local routes = {}
  for _, r in pairs(index) do  -- order-free: sorted right after
    if pick == nil or pick[r] then
      routes[#routes + 1] = r
    end
  end
  table.sort(routes, route_less)
  return routes
end

--- The GenVM view computed from `__llm.providers` (§5.6), the value of Python's
--- `view_from_providers`: `view_index`'s routes in route order. `index` is that
--- index when the caller already has it.
function M.view_from_providers(providers, index)
  local routes = M.view_routes(index or M.view_index(providers))
  return encoding.map({ version = M.VERSION, routes = encoding.array(routes) })
end

-- -- reading the canonical value back -----------------------------------------

--- The catalog whose canonical value (§5.5) is `v` (rules 1 to 3). `CAT_TYPE`
--- on a malformed value. Returns `{routes, tiers, tier_rank, default_tier,
--- fields, value}`; routes are in rank order.
function M.from_value(v)
  exact_map(v, { "version", "tiers", "default_tier", "fields", "routes" }, {})
  -- A float 1.0 equals 1 in Lua but is outside the model: the kind is checked first.
  if mathtype(v.version) ~= "integer" or v.version ~= M.VERSION then
    bad({ "version" }, "expected version `1`")
  end
  local tiers, tier_rank = array_of(v.tiers, { "tiers" }), {}
  for i = 1, #tiers do
    tier_rank[fact(tiers[i], "text", { "tiers", i - 1 })] = i - 1
  end
  local decls = array_of(v.fields, { "fields" })
  local fields = {}
  for i = 1, #decls do
    local d = exact_map(decls[i], { "name", "scale", "min", "max" }, { "fields", i - 1 })
    for _, key in ipairs({ "scale", "min", "max" }) do
      if kind(d[key]) ~= "integer" then
        bad({ "fields", i - 1, key }, "expected an integer")
      end
    end
    fields[i] = { name = fact(d.name, "text", { "fields", i - 1, "name" }), scale = d.scale,
      lo = d.min, hi = d.max }
  end
  local raw = array_of(v.routes, { "routes" })
  if #raw > M.MAX_ROUTES then
    bad({ "routes" }, "more than " .. M.MAX_ROUTES .. " routes")
  end
  local routes, index = {}, {}
  for i = 1, #raw do
    local r = read_route(raw[i], i - 1)
    local prev = routes[i - 1]
    -- Most neighbours share a provider: compare its bytes only when it changes.
    if prev and not (prev.provider == r.provider and bytes_less(prev.model, r.model)
        or prev.provider ~= r.provider and bytes_less(prev.provider, r.provider)) then
      bad({ "routes", i - 1 }, "routes are not in provider-then-model byte order")
    end
    routes[i] = r
    index[r.provider .. "\0" .. r.model] = r
  end
  return { routes = routes, tiers = tiers, tier_rank = tier_rank,
    default_tier = fact(v.default_tier, "text?", { "default_tier" }), fields = fields,
    value = v, index = index }
end

return M
