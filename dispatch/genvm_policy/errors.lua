--- Errors the user can cause: one shape, one registry of stable codes.
--
-- Spec: docs/SPEC.md §0 (Errors). Mirrors genvm_policy/errors.py.
--
-- Rules:
-- 1. Every error a user can cause is raised as a table
--    `{code = , path = , message = , hint = }` by `raise`, with `error(t, 0)`,
--    so a caller's `pcall` gets the table itself and can compare
--    `(code, path)` with the Python reference exactly.
-- 2. Codes are the strings of `CODES` in errors.py; raising an unregistered
--    code is a programming error and raises a plain string instead.
-- 3. A path is an array of segments: strings for map keys, integers counted
--    from 0 for array positions (as in Python, not Lua's 1-based indices).

local M = {}

-- The registry, grouped by the spec section that owns each rule. The
-- "raised when" text of every code lives in errors.py.
M.CODES = {
  -- -- §1 numeric --------------------------------------------------------
  NUM_SYNTAX = true,
  NUM_INEXACT = true,
  NUM_RANGE = true,
  NUM_FLOAT = true,
  NUM_DIV_ZERO = true,
  NUM_TYPE = true,
  NUM_SCALE = true,
  -- -- §2 encoding -------------------------------------------------------
  CBOR_TYPE = true,
  CBOR_TEXT = true,
  CBOR_NFC = true, -- raised by the reference only: no Unicode tables here (§2.4)
  CBOR_RANGE = true,
  CBOR_MALFORMED = true,
  CBOR_KEY = true,
  CBOR_DUPLICATE_KEY = true,
  CBOR_DEPTH = true,
  CBOR_TRUNCATED = true,
  CBOR_TRAILING = true,
  CBOR_NON_CANONICAL = true,
  CBOR_UNSUPPORTED = true,
  -- -- §3 identity -------------------------------------------------------
  ID_KIND = true,
  ID_SYNTAX = true,
  -- -- §4 prng -----------------------------------------------------------
  PRNG_LABEL = true,
  PRNG_BOUND = true,
  PRNG_KEY = true,
  PRNG_MATERIAL = true,
  PRNG_INDEX = true,
  -- -- §5 catalog, §6 request, §7 policy (raised by the engine modules) -----
  CAT_TYPE = true, -- a catalog value of the wrong shape (catalog.from_value)
  REQ_FIELD = true,
  POL_TYPE = true,
  POL_KEY = true,
  POL_OP = true,
  POL_SORT = true,
  POL_ARITY = true,
  POL_VALUE = true,
  POL_FIELD = true,
  POL_TIER = true,
  POL_LIMIT = true,
  POL_BOUND = true, -- bind's proof over the catalog's values (bounds.prove)
  POL_COST = true,
}

local Error = {}

--- Render a path for people: `$.backends.openai.models["gpt-4o"]`, `$` for the root.
function M.render_path(path)
  local out = { "$" }
  for i = 1, #path do
    local seg = path[i]
    if math.type(seg) == "integer" then
      out[#out + 1] = "[" .. seg .. "]"
    elseif seg:find("^[A-Za-z_][A-Za-z0-9_]*$") then
      out[#out + 1] = "." .. seg
    else
      out[#out + 1] = "[" .. M.quote(seg) .. "]"
    end
  end
  return table.concat(out)
end

-- JSON string escapes, as Python's json.dumps writes them.
local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

--- Quote text as a JSON string (non-ASCII kept), for paths and messages.
function M.quote(s)
  return '"' .. s:gsub('[\0-\31"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

--- Raise the error `code` at `path` (an array, default the root) with a plain
--- one-line `message` and an optional `hint`.
function M.raise(code, path, message, hint)
  if not M.CODES[code] then
    error("unregistered error code " .. tostring(code), 2)
  end
  error(setmetatable({ code = code, path = path or {}, message = message, hint = hint }, Error), 0)
end

--- True when `e` (a value caught by `pcall`) is an error raised by `raise`.
function M.is_error(e)
  return getmetatable(e) == Error
end

--- The same error with the segments `...` put in front of its path.
function M.at(e, ...)
  local path = { ... }
  for i = 1, #e.path do
    path[#path + 1] = e.path[i]
  end
  return setmetatable({ code = e.code, path = path, message = e.message, hint = e.hint }, Error)
end

--- One line for people: `CODE at $.path: message`, then the hint if any.
function M.render(e)
  local text = e.code .. " at " .. M.render_path(e.path) .. ": " .. e.message
  if e.hint then
    text = text .. " (hint: " .. e.hint .. ")"
  end
  return text
end

Error.__tostring = M.render

return M
