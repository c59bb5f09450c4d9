--- Mutate: the parameters of one attempt on one route (§8.4).
--
-- Spec: docs/SPEC.md §8.4 (Mutate), §9 rule 2. Mirrors genvm_policy/mutate.py;
-- `genvm_policy.decision` computes an attempt's parameters on demand here.
--
-- Rules:
-- 1. Mutate runs per attempt `a` (0-based) with the route in scope, the
--    mutations in order; `when` asks `genvm_policy.predicate`.
-- 2. The jitters of one parameter read only that parameter's part of attempt
--    `a`'s jitter block (block 0 of `mutate/jitter/<a>`, bytes `8·j … 8·j + 7`,
--    `j` its `JITTER_PART`), then, if they need more, its own stream
--    `mutate/jitter/<a>/<param>`: one parameter's jitter never moves another's.
-- 3. The provider seed of attempt `a` is the `a`-th `u53()` of `attempt/seed`,
--    read from block `a // 4`.
-- 4. `use_max_completion_tokens` is always the route's own flag, as GenVM's stock
--    scripts send it: a policy cannot turn it off, and the mutation of that name
--    (kept so version-1 policies stay admitted) sets what is already there.

local encoding = require("genvm_policy.encoding")
local policy_mod = require("genvm_policy.policy")
local predicate = require("genvm_policy.predicate")
local prng = require("genvm_policy.prng")

local M = {}

local PARAMS = policy_mod.PARAMS

--- Parameter -> its part of an attempt's jitter block (rule 2), 8 bytes each.
M.JITTER_PART = require("genvm_policy.tables").mutate.JITTER_PART
local PART_BYTES = require("genvm_policy.tables").mutate.PART_BYTES
local holds = predicate.holds
local unpack = string.unpack

--- The canonical map of one attempt's parameters (§9).
function M.params_value(p)
  local filters = {}
  for k = 1, #p.text_filters do
    filters[k] = p.text_filters[k]
  end
  return encoding.map({ temperature = p.temperature, max_tokens = p.max_tokens, seed = p.seed,
    use_max_completion_tokens = p.use_max_completion_tokens,
    text_filters = encoding.array(filters),
    top_p = p.top_p == nil and encoding.null or p.top_p })
end

local function apply(terms, first, b, i, attempt, req, seed, state, streams)
  for k = first, #terms do
    local term = terms[k]
    local op = term[1]
    if op == "set" then
      state[term[2]] = term[3]
    elseif (op == "clamp" or op == "jitter") and state[term[2]] == nil then
      -- `clamp` and `jitter` of an unset parameter (`top_p`): it stays unset,
      -- and draws nothing from its part.
    elseif op == "clamp" then
      local v = state[term[2]]
      v = v < term[4] and v or term[4]
      state[term[2]] = v > term[3] and v or term[3]
    elseif op == "jitter" then
      local param = term[2]
      local stream = streams[param]
      if stream == nil then
        -- The shared block is made once per attempt; each parameter reads its part.
        local label = "mutate/jitter/" .. attempt
        streams[1] = streams[1] or prng.stream_block(seed, label, 0)
        local at = M.JITTER_PART[param] * PART_BYTES
        stream = prng.stream(seed, label .. "/" .. param, streams[1]:sub(at + 1, at + PART_BYTES))
        streams[param] = stream
      end
      local step = term[3] + stream:below(term[4] - term[3] + 1)
      local lo, hi = PARAMS[param][2], PARAMS[param][3]
      local v = state[param] + step
      state[param] = v < lo and lo or v > hi and hi or v
    elseif op == "text_filters" then
      state.text_filters = term[2]
    elseif op == "use_max_completion_tokens" then
      -- rule 4: the route's flag is already the state
    elseif holds(term[2], b, i, req) then -- "when"
      apply(term, 3, b, i, attempt, req, seed, state, streams)
    end
  end
end

--- The `attempt`-th `u53()` of the stream `attempt/seed` (rule 3): four per block.
function M.provider_seed(seed, attempt)
  local block = prng.stream_block(seed, "attempt/seed", attempt // 4)
  local hi, lo = unpack(">I4I4", block, attempt % 4 * 8 + 1)
  return (hi << 21) | (lo >> 11)
end

--- Apply the mutate slot for attempt `attempt` (0-based) on route rank `i`
--- (rules 1-3); a pure function of its arguments.
function M.mutate(b, i, attempt, req, seed)
  local state = { temperature = req.temperature, max_tokens = req.max_tokens,
    use_max_completion_tokens = b.routes[i + 1].max_completion_tokens, text_filters = {} }
  apply(b.policy.mutate, 1, b, i, attempt, req, seed, state, {})
  return { temperature = state.temperature, max_tokens = state.max_tokens,
    seed = M.provider_seed(seed, attempt),
    use_max_completion_tokens = state.use_max_completion_tokens,
    text_filters = state.text_filters, top_p = state.top_p }
end

return M
