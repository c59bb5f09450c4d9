--- The Lua side of the policy vector kinds: catalog, request, predicate, scorer,
--- selector, mutate, cascade, decision.
--
-- Spec: docs/VECTORS.md §6.8 to §6.16. Mirrors genvm_policy/vectors/run_policy.py;
-- required by dispatch/vectors/runner.lua, which passes its input helpers in.
--
-- Rules:
-- 1. Inputs are canonical values (a catalog value, a policy value, a request
--    map), read by the runtime's own `from_value` functions: no admission.
-- 2. The term kinds run their terms in the policy `wrap` builds, the value
--    run_policy.py's `wrap` builds: the given slots, `["true"]`,
--    `["const", 0]`, `["argmax"]`, `[]` for the others, the default failure
--    plan and 16 attempts.
-- 3. The GenVM view of a `__llm.providers` rendering is the runtime's own
--    `catalog.view_from_providers`, the projection the hook uses (SPEC §5.6).
-- 4. Routes appear as `[provider, model]` in the order the runtime gives them.

local encoding = require("genvm_policy.encoding")
local catalog = require("genvm_policy.catalog")
local cascade = require("genvm_policy.cascade")
local decision = require("genvm_policy.decision")
local identity = require("genvm_policy.identity")
local interpreter = require("genvm_policy.interpreter")
local policy = require("genvm_policy.policy")
local mutate = require("genvm_policy.mutate")
local predicate = require("genvm_policy.predicate")
local request = require("genvm_policy.request")
local selection = require("genvm_policy.selection")

local M = {}

local array, map, null = encoding.array, encoding.map, encoding.null

--- The kinds of this file, by name, with the SPEC section each pins.
M.KINDS = {
  catalog = "§5.5", request = "§6", predicate = "§8.1", scorer = "§8.2",
  selector = "§8.3", mutate = "§8.4", cascade = "§10", decision = "§9",
}

local function pair(route)
  return array({ route.provider, route.model })
end

--- The canonical policy value the term kinds run in (rule 2).
local function wrap(slots)
  local plan = {}
  for i = 1, #policy.CLASSES do
    plan[policy.CLASSES[i]] = array({ "abort" })
  end
  plan.rate_limited, plan.unavailable, plan.timeout =
    array({ "next" }), array({ "next" }), array({ "next" })
  return map({
    version = policy.VERSION,
    filter = slots.filter or array({ "true" }),
    score = slots.score or array({ "const", 0 }),
    select = slots.select or array({ "argmax" }),
    mutate = slots.mutate or array({}),
    on_failure = map(plan),
    max_attempts = 16,
  })
end

--- The runners, built over runner.lua's input helpers `h` (`field`, `host`, `raw`).
function M.runners(h)
  local field, host, raw = h.field, h.host, h.raw

  local function setup(data, policy_value)
    return catalog.from_value(field(data, "catalog")), policy.from_value(policy_value),
      request.from_value(field(data, "request"))
  end

  local function run_catalog(data)
    if data.providers ~= nil then
      local view = catalog.view_from_providers(host(data.providers))
      return map({ view = view, identity = identity.identity("genvm-view", view) })
    end
    local c = catalog.from_value(field(data, "catalog"))
    return map({ identity = catalog.catalog_identity(c),
      view_identity = identity.identity("genvm-view", catalog.genvm_view(c)),
      routes = #c.routes })
  end

  local function run_request(data)
    local r = request.from_value(host(field(data, "request")))
    return map({ value = request.request_value(r), identity = request.request_identity(r) })
  end

  local function run_predicate(data)
    local c, p, r = setup(data, wrap({ filter = field(data, "filter") }))
    local b = interpreter.bind(c, p)
    local survivors, rejected = predicate.filter_routes(b, r)
    local s, j = {}, {}
    for k = 1, #survivors do
      s[k] = pair(b.routes[survivors[k] + 1])
    end
    for k = 1, #rejected do
      local route = b.routes[rejected[k][1] + 1]
      j[k] = array({ route.provider, route.model, rejected[k][2] })
    end
    return map({ survivors = array(s), rejected = array(j) })
  end

  local function population(data, slots)
    local c, p, r = setup(data, wrap(slots))
    local b = interpreter.bind(c, p)
    local survivors = predicate.filter_routes(b, r)
    return b, p, r, survivors, interpreter.score(p.score, b, survivors, r)
  end

  local function run_scorer(data)
    local b, _, _, survivors, values = population(data,
      { filter = field(data, "filter"), score = field(data, "score") })
    local out = {}
    for k = 1, #survivors do
      local route = b.routes[survivors[k] + 1]
      out[k] = array({ route.provider, route.model, values[k] })
    end
    return array(out)
  end

  local function run_selector(data)
    local b, _, r, survivors, values = population(data, { filter = field(data, "filter"),
      score = field(data, "score"), select = field(data, "select") })
    local by_rank = {}
    for k = 1, #survivors do
      by_rank[survivors[k]] = values[k]
    end
    local order = selection.select(b, survivors, by_rank, r, raw(field(data, "seed")))
    local out = {}
    for k = 1, #order do
      out[k] = pair(b.routes[order[k] + 1])
    end
    return array(out)
  end

  local function run_mutate(data)
    local c, p, r = setup(data, wrap({ mutate = field(data, "mutate") }))
    local b = interpreter.bind(c, p)
    local attempts, out = field(data, "attempts"), {}
    for k = 1, #attempts do
      local want, rank = attempts[k], nil
      for i = 1, #b.routes do
        if b.routes[i].provider == want[1] and b.routes[i].model == want[2] then
          rank = i - 1
        end
      end
      if rank == nil then
        h.bad("no route `" .. tostring(want[1]) .. "/" .. tostring(want[2]) .. "`")
      end
      out[k] = mutate.params_value(mutate.mutate(b, rank, want[3], r,
        raw(field(data, "seed"))))
    end
    return array(out)
  end

  local function run_cascade(data)
    local c, p, r = setup(data, field(data, "policy"))
    local d = decision.decide(c, p, r, raw(field(data, "seed")))
    local script, calls, waits = field(data, "script"), {}, {}
    local function call(a)
      local step = script[#calls + 1]
      if step == nil then
        h.bad("the cascade called past the end of the script")
      end
      calls[#calls + 1] = array({ a.provider, a.model, a.params.seed })
      if step == "ok" then
        return cascade.success(#calls - 1)
      end
      local status = step.status
      return cascade.failure(step.kind, status ~= nil and host(status) or nil, step.code,
        step.retry_after_ms)
    end
    local outcome = cascade.run(d, call, function(ms) waits[#waits + 1] = ms end)
    local trace = {}
    for k = 1, #outcome.trace do
      local s = outcome.trace[k]
      trace[k] = array({ s.attempt, s.provider, s.model, s.result, s.action })
    end
    return map({
      ok = outcome.ok,
      data = outcome.ok and outcome.data or null,
      error_class = outcome.error_class or null,
      code = outcome.code or null,
      trace = array(trace),
      calls = array(calls),
      waits = array(waits),
    })
  end

  local function run_decision(data)
    local c, p, r = setup(data, field(data, "policy"))
    return decision.report(decision.decide(c, p, r, raw(field(data, "seed"))))
  end

  return {
    catalog = run_catalog, request = run_request, predicate = run_predicate,
    scorer = run_scorer, selector = run_selector, mutate = run_mutate,
    cascade = run_cascade, decision = run_decision,
  }
end

return M
