--- The decision: one pure function from (catalog, policy, request, seed) to a record.
--
-- Spec: docs/SPEC.md §9 (Decision), "Lua runtime notes". Mirrors
-- genvm_policy/core/decision.py.
--
-- Rules:
-- 1. `decide` binds the policy to the catalog, filters, scores the survivors
--    and selects the failover order, keeping its first `max_attempts` routes.
-- 2. `attempt_params(d, a)` computes the parameters of attempt `a` (0-based)
--    on demand; the cascade pays only for the calls it makes.
-- 3. `value(d)` is the canonical record `{version, identities, max_attempts,
--    routes: [[provider, model], …]}`, byte for byte the reference's
--    `decision_value`; `identity(d)` is `identity("decision", value(d))`.
-- 4. Hashing is the node's dominant cost, so `decide` hashes nothing: the
--    request identity, the seed commitment and the decision identity are
--    computed by `value`/`identity` on first use and kept on `d`. The seed is
--    still checked (`PRNG_KEY`) before any work.

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local catalog_mod = require("genvm_policy.catalog")
local identity_mod = require("genvm_policy.identity")
local interpreter = require("genvm_policy.interpreter")
local policy_mod = require("genvm_policy.policy")
local mutate = require("genvm_policy.mutate")
local predicate = require("genvm_policy.predicate")
local prng = require("genvm_policy.prng")
local request_mod = require("genvm_policy.request")
local selection = require("genvm_policy.selection")
local tabulate = require("genvm_policy.tabulate")

local M = {}

--- Decide one call (rule 1). `catalog_id` may pass the catalog's identity
--- (the compiled policy records it). Raises `PRNG_KEY`, `NUM_RANGE`,
--- `POL_FIELD`, `POL_TIER` as the reference does.
function M.decide(catalog, policy, request, seed, catalog_id)
  if type(seed) ~= "string" or #seed < 1 or #seed > prng.MAX_KEY_BYTES then
    errors.raise("PRNG_KEY", {}, "the seed must be 1 … " .. prng.MAX_KEY_BYTES .. " bytes",
      "a node salt is 32 random bytes; a seed is 1 … 64 bytes written as hex")
  end
  local b = interpreter.bind(catalog, policy)
  local survivors, rejected = predicate.filter_routes(b, request)
  local values = interpreter.score(policy.score, b, survivors, request)
  -- The rank -> score map, empty for a selector that reads no scores.
  local by_rank = tabulate.by_rank(b, survivors, values)
  local order = selection.select(b, survivors, by_rank, request, seed, policy.max_attempts)
  local ranks, routes = {}, {}
  for a = 1, math.min(#order, policy.max_attempts) do
    local route = b.routes[order[a] + 1]
    ranks[a] = order[a]
    routes[a] = { provider = route.provider, model = route.model, family = route.family }
  end
  return { routes = routes, ranks = ranks, rejected = rejected, survivors = survivors,
    scores = values, on_failure = policy.on_failure, max_attempts = policy.max_attempts,
    catalog = catalog, policy = policy, catalog_id = catalog_id, bound = b,
    request = request, seed = seed }
end

--- The parameters of attempt `a` (0-based, below `#d.routes`) (rule 2):
--- `{temperature, max_tokens, seed, use_max_completion_tokens, text_filters}`.
function M.attempt_params(d, a)
  return mutate.mutate(d.bound, d.ranks[a + 1], a, d.request, d.seed)
end

--- Attempt `a` with its route and parameters, as the cascade calls it.
function M.attempt(d, a)
  local route = d.routes[a + 1]
  return { provider = route.provider, model = route.model, family = route.family,
    params = M.attempt_params(d, a) }
end

--- The four input identities, hashed on first use (rule 4).
function M.identities(d)
  if not d.ids then
    d.ids = {
      catalog = d.catalog_id or catalog_mod.catalog_identity(d.catalog),
      policy = policy_mod.policy_identity(d.policy),
      request = request_mod.request_identity(d.request),
      seed = prng.seed_commitment(d.seed),
    }
  end
  return d.ids
end

--- The canonical value the decision identity covers (rule 3).
function M.value(d)
  local ids = M.identities(d)
  local routes = {}
  for a = 1, #d.routes do
    routes[a] = encoding.array({ d.routes[a].provider, d.routes[a].model })
  end
  return encoding.map({
    version = 1,
    identities = encoding.map({ catalog = ids.catalog, policy = ids.policy,
      request = ids.request, seed = ids.seed }),
    max_attempts = d.max_attempts,
    routes = encoding.array(routes),
  })
end

--- `identity("decision", value(d))` (rule 3), hashed once per decision.
function M.identity(d)
  if not d.identity then
    d.identity = identity_mod.identity("decision", M.value(d))
  end
  return d.identity
end

--- Everything `decide` found, as the reference's `decision_report`: the
--- record plus `identities.decision`, every planned attempt with its
--- parameters, rejections with reasons, scores and the failure plan.
function M.report(d)
  local value = M.value(d)
  local ids = value.identities
  ids.decision = M.identity(d)
  local attempts, rejected, scores = {}, {}, {}
  for a = 0, #d.routes - 1 do
    local at = M.attempt(d, a)
    attempts[a + 1] = encoding.map({ provider = at.provider, model = at.model,
      family = at.family, params = mutate.params_value(at.params) })
  end
  local routes = d.bound.routes
  for k = 1, #d.rejected do
    local route = routes[d.rejected[k][1] + 1]
    rejected[k] = encoding.map({ provider = route.provider, model = route.model,
      reason = d.rejected[k][2] })
  end
  for k = 1, #d.survivors do
    local route = routes[d.survivors[k] + 1]
    scores[k] = encoding.map({ provider = route.provider, model = route.model,
      score = d.scores[k] })
  end
  value.attempts = encoding.array(attempts)
  value.rejected = encoding.array(rejected)
  value.scores = encoding.array(scores)
  value.on_failure = d.on_failure
  return value
end

return M
