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

local values = require("genvm_policy.values")

local M = {}

-- The registry: every code of errors.py (generated into tables.lua), so a code
-- either runtime raises is registered in both. The "raised when" text of every
-- code lives in errors.py.
M.CODES = {}
do
  local codes = require("genvm_policy.tables").errors.CODES
  for i = 1, #codes do
    M.CODES[codes[i]] = true
  end
end

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

--- The language-neutral form vectors store (§0): the map `{code, path}`, the path
--- an array of its segments. Mirrors `PolicyError.as_value`.
function M.as_value(e)
  local path = {}
  for i = 1, #e.path do
    path[i] = e.path[i]
  end
  return values.map({ code = e.code, path = values.array(path) })
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
