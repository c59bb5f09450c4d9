--- The failure cascade: run a decision's attempts over an injected call function.
--
-- Spec: docs/SPEC.md §10 (Cascade). Mirrors genvm_policy/cascade.py.
--
-- Rules:
-- 1. A failed call is classified by `classify`: the kinds in `KIND_FIRST`
--    win, then the HTTP status (`STATUS_CLASS`; any other 5xx is `server`),
--    then the remaining kinds (`KIND_CLASS`), else `unknown`. A status may
--    arrive as a float (`503.0`): it is normalised with `numeric.from_host`.
-- 2. The policy's plan maps each class to an action: `next`,
--    `next_same_family`, `retry` (up to `attempts` more calls to the same
--    route, pausing `backoff_ms` before each, then its follow-up action),
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

--- Kinds the host glue recognises in a reply's body; they outrank its status.
M.KIND_FIRST = { context_overflow = "context_overflow", content_filter = "content_filter" }
--- HTTP status -> class. 408, 429, 503, 504, 529 are GenVM's overloaded statuses.
M.STATUS_CLASS = { [400] = "bad_request", [401] = "auth", [403] = "auth", [404] = "not_found",
  [408] = "overloaded", [413] = "context_overflow", [429] = "overloaded",
  [503] = "overloaded", [504] = "overloaded", [529] = "overloaded" }
--- Kinds without a status: a failed send, or an error that is not GenVM's user error.
M.KIND_CLASS = { network = "network", non_user = "non_user" }

M.NO_PROVIDER = "NO_PROVIDER_FOR_PROMPT"

--- A provider answered; `data` is passed back untouched.
function M.success(data)
  return { ok = true, data = data }
end

--- A provider call failed: the host's kind of failure and the HTTP status if any.
function M.failure(kind, status)
  return { ok = false, kind = kind, status = status }
end

--- The error class of a failed call (rule 1).
function M.classify(failure)
  local first = M.KIND_FIRST[failure.kind]
  if first then
    return first
  end
  local status = numeric.from_host(failure.status)
  if status ~= nil then
    if M.STATUS_CLASS[status] then
      return M.STATUS_CLASS[status]
    end
    if status >= 500 and status <= 599 then
      return "server"
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
          if retries > 0 and #trace + 1 < cap then
            retries = retries - 1
            trace[#trace + 1] = step(pos, a, last, "retry")
            if wait then
              wait(action[3])
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
