--- The failure cascade: run a decision's attempts over an injected call function.
--
-- Spec: docs/SPEC.md §10 (Cascade). Mirrors genvm_policy/cascade.py.
--
-- Rules:
-- 1. A failed call is classified by `classify`: the kinds in `KIND_FIRST`
--    win, then the error body's code (`BODY_CLASS`), then the HTTP status
--    (`STATUS_CLASS`; any other 5xx is `unavailable` when its body could not
--    be read, else `server`), then the remaining kinds (`KIND_CLASS`), else
--    `unknown`. A status may arrive as a float (`503.0`): it is normalised
--    with `numeric.from_host`. What the host glue read (kind, status, body
--    code, Retry-After) is the whole input, so a logged failure replays.
-- 2. The policy's plan maps each class to an action: `next`,
--    `next_same_family`, `retry` (up to `attempts` more calls to the same
--    route, pausing `backoff_ms` before each, or the failure's Retry-After
--    when it gives one; a Retry-After longer than `backoff_ms` ends the
--    retries at once; then its follow-up action),
--    `skip_provider` or `abort`.
-- 3. Bound: at most `max_attempts` (≤ 16) provider calls, retries included.
-- 4. When the routes or the budget run out the outcome is GenVM's user error
--    `NO_PROVIDER_FOR_PROMPT`; `abort` ends with the class of the last failure.
-- 5. `call(attempt)` and `wait(ms)` are passed in; both may yield (the hook's
--    provider call and sleep), so they are called only from this plain loop,
--    never from a sort comparator or a `gsub` callback.
-- 6. An attempt's parameters are computed (`decision.attempt`) only when the
--    route is called, once per route however often it is retried.

local decision = require("genvm_policy.decision")
local numeric = require("genvm_policy.numeric")

local M = {}

-- The classification tables are the reference's, generated into tables.lua.
local T = require("genvm_policy.tables").cascade

--- Kinds that name their class outright; they outrank everything else.
M.KIND_FIRST = T.KIND_FIRST
--- The error body's code -> class: OpenAI-style `error.code`, else Anthropic-style
--- `error.type`, as the host glue read it.
M.BODY_CLASS = T.BODY_CLASS
--- HTTP status -> class. GenVM's overloaded statuses (408, 429, 503, 504, 529)
--- are split three ways.
M.STATUS_CLASS = T.STATUS_CLASS
--- The statuses a server error has (5xx), lowest and highest.
M.SERVER_STATUSES = T.SERVER_STATUSES
--- The kind GenVM gives a reply whose body it could not read (an HTML or empty 5xx).
M.UNREADABLE = T.UNREADABLE
--- Kinds without a status: a failed send (`send_timeout` when it timed out), or
--- an error that is not GenVM's user error.
M.KIND_CLASS = T.KIND_CLASS

M.NO_PROVIDER = T.NO_PROVIDER

--- A provider answered; `data` is passed back untouched.
function M.success(data)
  return { ok = true, data = data }
end

--- A provider call failed, as the host glue read it: the host's kind of failure,
--- the HTTP status, the body's error code (one of `BODY_CLASS`) and the reply's
--- Retry-After in ms, each nil when absent.
function M.failure(kind, status, code, retry_after_ms)
  return { ok = false, kind = kind, status = status, code = code,
    retry_after_ms = retry_after_ms }
end

--- The error class of a failed call (rule 1).
function M.classify(failure)
  local first = M.KIND_FIRST[failure.kind]
  if first then
    return first
  end
  local body = failure.code ~= nil and M.BODY_CLASS[failure.code]
  if body then
    return body
  end
  local status = numeric.from_host(failure.status)
  if status ~= nil then
    if M.STATUS_CLASS[status] then
      return M.STATUS_CLASS[status]
    end
    if status >= M.SERVER_STATUSES[1] and status <= M.SERVER_STATUSES[2] then
      return failure.kind == M.UNREADABLE and "unavailable" or "server"
    end
  end
  return M.KIND_CLASS[failure.kind] or "unknown"
end

local function step(pos, a, result, action)
  return { attempt = pos, provider = a.provider, model = a.model, result = result,
    action = action }
end

--- Walk the attempts under the failure plan (rules 2-6). Returns
--- `{ok, data, error_class, code, trace}`; `trace` lists every call as
--- `{attempt, provider, model, result, action}` (`attempt` 0-based).
function M.run(d, call, wait)
  local plan, routes, cap = d.on_failure, d.routes, d.max_attempts
  local trace, skipped, last, pos = {}, {}, nil, 0
  while pos < #routes and #trace < cap do
    if skipped[routes[pos + 1].provider] then
      pos = pos + 1
    else
      local a = decision.attempt(d, pos)
      local retries, action
      while true do
        local result = call(a)
        if result.ok then
          trace[#trace + 1] = step(pos, a, "ok", "done")
          return { ok = true, data = result.data, trace = trace }
        end
        last = M.classify(result)
        action = plan[last]
        if action[1] == "retry" then
          retries = retries == nil and action[2] or retries
          local pause = result.retry_after_ms
          if pause == nil then pause = action[3] end
          if retries > 0 and #trace + 1 < cap and pause <= action[3] then
            retries = retries - 1
            trace[#trace + 1] = step(pos, a, last, "retry")
            if wait then
              wait(pause)
            end
          else
            action = action[4]
            break
          end
        else
          break
        end
      end
      trace[#trace + 1] = step(pos, a, last, action[1])
      if action[1] == "abort" then
        return { ok = false, error_class = last, code = "abort", trace = trace }
      end
      if action[1] == "skip_provider" then
        skipped[a.provider] = true
      end
      local nxt = pos + 1
      if action[1] == "next_same_family" then
        for k = pos + 1, #routes - 1 do
          local r = routes[k + 1]
          if r.family == a.family and not skipped[r.provider] then
            nxt = k
            break
          end
        end
      end
      pos = nxt
    end
  end
  return { ok = false, error_class = last, code = M.NO_PROVIDER, trace = trace }
end

return M
