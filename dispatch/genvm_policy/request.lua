--- The request a policy sees: what the hook knows about one LLM call.
--
-- Spec: docs/SPEC.md §6 (Request). Mirrors genvm_policy/request.py.
--
-- Rules:
-- 1. A request has seven fields, all required in its canonical value: `entry`,
--    `format`, `role`, `images`, `prompt_bytes`, `temperature` (milli-units)
--    and `max_tokens`. Each has a pinned range (`LIMITS`); anything else is
--    `REQ_FIELD` or `NUM_RANGE`.
-- 2. The templates fix the format as GenVM does; a different explicit format
--    is `REQ_FIELD`.
-- 3. Defaults mirror GenVM's transforms: temperature 700; max_tokens 8000 for
--    a prompt and 1000 for a template.
-- 4. Derived needs: `json` and `bool` need JSON support; one or more images
--    need vision. They are stored as `needs_json` and `needs_image`.
-- 5. `role` is this node's part in the transaction as GenVM tells the hook
--    (`leader`, `validator`), else `unknown`; default `unknown`.

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local identity = require("genvm_policy.identity")

local M = {}
local T = require("genvm_policy.tables").request

M.ENTRIES = T.ENTRIES
M.FORMATS = T.FORMATS
M.ROLES = T.ROLES

--- Template entry -> the format GenVM's template transform fixes.
M.TEMPLATE_FORMAT = T.TEMPLATE_FORMAT

--- field -> {lowest, highest} accepted integer.
M.LIMITS = T.LIMITS
-- The same fields in the reference's order, which decides the first error reported.
local NUMBERS = T.NUMBERS

M.DEFAULT_TEMPERATURE = T.DEFAULT_TEMPERATURE
M.DEFAULT_MAX_TOKENS = T.DEFAULT_MAX_TOKENS

--- The request classes of SPEC §9.4, in its order: {name, entry, format, images}.
M.CLASSES = T.CLASSES

local function member(list, x)
  for i = 1, #list do
    if list[i] == x then
      return true
    end
  end
  return false
end

local function at(path, key)
  local out = {}
  for i = 1, #path do
    out[i] = path[i]
  end
  out[#out + 1] = key
  return out
end

--- Check the fields (rules 1-3) and fill GenVM's defaults; nil means "default".
function M.make(entry, format, images, prompt_bytes, temperature, max_tokens, path, role)
  path = path or {}
  role = role == nil and "unknown" or role
  entry = entry == nil and "prompt" or entry
  if not member(M.ENTRIES, entry) then
    errors.raise("REQ_FIELD", at(path, "entry"), "unknown entry point `" .. tostring(entry) .. "`",
      "use one of " .. table.concat(M.ENTRIES, ", "))
  end
  local fixed = M.TEMPLATE_FORMAT[entry]
  if format == nil then
    format = fixed or "text"
  end
  if not member(M.FORMATS, format) then
    errors.raise("REQ_FIELD", at(path, "format"),
      "unknown response format `" .. tostring(format) .. "`", "use text, json or bool")
  end
  if fixed ~= nil and format ~= fixed then
    errors.raise("REQ_FIELD", at(path, "format"),
      "entry `" .. entry .. "` always answers `" .. fixed .. "`, not `" .. format .. "`")
  end
  if not member(M.ROLES, role) then
    errors.raise("REQ_FIELD", at(path, "role"), "unknown role `" .. tostring(role) .. "`",
      "use leader, validator or unknown")
  end
  local values = {
    images = images == nil and 0 or images,
    prompt_bytes = prompt_bytes == nil and 0 or prompt_bytes,
    temperature = temperature == nil and M.DEFAULT_TEMPERATURE or temperature,
    max_tokens = max_tokens == nil and M.DEFAULT_MAX_TOKENS[fixed and "template" or "prompt"]
      or max_tokens,
  }
  for i = 1, #NUMBERS do
    local name = NUMBERS[i]
    local value, lo, hi = values[name], M.LIMITS[name][1], M.LIMITS[name][2]
    if math.type(value) ~= "integer" or value < lo or value > hi then
      errors.raise("NUM_RANGE", at(path, name),
        "`" .. name .. "` must be an integer in " .. lo .. " … " .. hi)
    end
  end
  return { entry = entry, format = format, role = role, images = values.images,
    prompt_bytes = values.prompt_bytes, temperature = values.temperature,
    max_tokens = values.max_tokens, needs_json = format ~= "text",
    needs_image = values.images > 0 }
end

--- Read a request from a decoded map; unknown keys are `REQ_FIELD` (first by bytes).
function M.from_value(v, path)
  path = path or {}
  if encoding.kind(v) ~= "map" then
    errors.raise("REQ_FIELD", path, "a request must be a map of fields")
  end
  local unknown = {}
  for key in pairs(v) do  -- order-free: collected, then sorted by bytes
    if key ~= "entry" and key ~= "format" and key ~= "role" and not M.LIMITS[key] then
      -- A host key that is not text is named by its text, as the reference names it.
      unknown[#unknown + 1] = tostring(key)
    end
  end
  if #unknown > 0 then
    table.sort(unknown, encoding.bytes_less)
    errors.raise("REQ_FIELD", at(path, unknown[1]), "unknown request field `" .. unknown[1] .. "`",
      "use entry, format, role, " .. table.concat(NUMBERS, ", "))
  end
  -- Only null is absent: `x and raw or nil` would turn a `false` field into a default.
  local function get(name)
    local raw = v[name]
    if raw == encoding.null then
      return nil
    end
    return raw
  end
  for _, name in ipairs({ "entry", "format", "role" }) do
    if get(name) ~= nil and type(get(name)) ~= "string" then
      errors.raise("REQ_FIELD", at(path, name), "`" .. name .. "` must be text")
    end
  end
  return M.make(get("entry"), get("format"), get("images"), get("prompt_bytes"),
    get("temperature"), get("max_tokens"), path, get("role"))
end

--- The canonical value of a request (rule 1): a map of all seven fields.
function M.request_value(r)
  return encoding.map({ entry = r.entry, format = r.format, role = r.role, images = r.images,
    prompt_bytes = r.prompt_bytes, temperature = r.temperature, max_tokens = r.max_tokens })
end

--- `identity("request", request_value(r))` (§3): two SHA-256 blocks.
function M.request_identity(r)
  return identity.identity("request", M.request_value(r))
end

return M
