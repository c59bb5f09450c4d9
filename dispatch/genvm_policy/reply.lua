--- What a provider's failed reply tells the cascade: the body's error code and
--- the Retry-After header, read from the context of GenVM's module error.
--
-- Spec: docs/SPEC.md §10.1 (Classes), docs/HOOK.md §9. Host glue of the hook,
-- Lua only: the reference receives these values already read (a cascade
-- `Failure`, a logged attempt), so it has no twin.
--
-- Rules:
-- 1. `body_code(body, json_parse)`: the body is a decoded table, or text that
--    is decoded with the host's `json_parse` when it is at most `MAX_BODY`
--    bytes and starts (after white space) with `{`. Its `error.code`
--    (OpenAI style), else its `error.type` (Anthropic style), is kept only
--    when the cascade's `BODY_CLASS` names it: the record holds a short known
--    name and never body text. Anything else is nil.
-- 2. `retry_after_ms(headers)`: a `retry-after` (or `Retry-After`) header of
--    whole seconds (RFC 9110 §10.2.3), at most `MAX_RETRY_AFTER`, in ms. An
--    HTTP date would need a clock the hook does not read: it counts as absent,
--    as does any other spelling.
-- 3. Neither raises: a parser that raises, or a value of any odd type, gives nil.
-- 4. `failure_of(err, json_parse)`: the `(kind, status, code, retry_after_ms)`
--    of a decoded module error (SPEC §10.1, HOOK.md §9), what the cascade
--    classifies and the record logs. A decoding that is not a table (a host
--    that answers oddly) has kind `unknown`; a send that timed out is
--    `send_timeout`, told by the host's error text.

local cascade = require("genvm_policy.cascade")

local M = {}

-- These two are not generated into tables.lua: reading GenVM's error is Lua-only
-- host glue, and the reference, which gets failures already read, has no twin.
--- Longest body text decoded, in bytes; provider error bodies are far smaller.
M.MAX_BODY = 65536
--- Longest Retry-After honoured, in seconds; no retry waits longer than a minute.
M.MAX_RETRY_AFTER = 3600

--- The body's error code when the cascade knows it, else nil (rule 1).
function M.body_code(body, json_parse)
  if type(body) == "string" then
    if #body > M.MAX_BODY or not body:find("^%s*{") or type(json_parse) ~= "function" then
      return nil
    end
    local ok, decoded = pcall(json_parse, body)
    body = ok and decoded or nil
  end
  local e = type(body) == "table" and body.error
  if type(e) ~= "table" then return nil end
  local names = { e.code, e.type }
  for i = 1, 2 do
    local name = names[i]
    if type(name) == "string" and cascade.BODY_CLASS[name] then return name end
  end
  return nil
end

--- The Retry-After of `headers` in ms, else nil (rule 2).
function M.retry_after_ms(headers)
  if type(headers) ~= "table" then return nil end
  local v = headers["retry-after"]
  if v == nil then v = headers["Retry-After"] end
  if type(v) == "table" then v = v[1] end
  if type(v) ~= "string" then return nil end
  local digits = v:match("^%s*(%d%d?%d?%d?)%s*$")
  local seconds = digits and math.tointeger(tonumber(digits))
  if seconds == nil or seconds > M.MAX_RETRY_AFTER then return nil end
  return seconds * 1000
end

--- `(kind, status, code, retry_after_ms)` of a decoded module error (rule 4).
function M.failure_of(err, json_parse)
  if type(err) ~= "table" then return "unknown", nil, nil, nil end
  local causes = type(err.causes) == "table" and err.causes or {}
  local kind = type(causes[1]) == "string" and causes[1] or "unknown"
  local ectx = type(err.ctx) == "table" and err.ctx or {}
  local status = type(ectx.status) == "number" and math.tointeger(ectx.status) or nil
  if kind == "SENDING_REQUEST" then
    local text = type(ectx.rust_error) == "string" and ectx.rust_error:lower() or ""
    kind = (text:find("timed out", 1, true) or text:find("timeout", 1, true))
      and "send_timeout" or "network"
  end
  return kind, status, M.body_code(ectx.body, json_parse), M.retry_after_ms(ectx.headers)
end

return M
