-- Stands in for `genvm_policy.tabulate`: every call runs the spec-shaped function it is
-- handed, so a state that runs this first decides without any table kept.
local spec = { TABLES = 0, ROUTE_OPS = {}, REQUEST_OPS = {} }
function spec.bind(catalog, policy, bind) return bind(catalog, policy) end
function spec.sieve(_, _, sieve) return sieve end
function spec.filter_routes(b, req, filter) return filter(b, req) end
function spec.score(term, b, pop, req, score) return score(term, b, pop, req) end
function spec.column(b, attr, default)
  local column = {}
  for r = 1, #b.routes do
    local v = b.routes[r][attr]
    if v == nil then v = default end
    column[r - 1] = v
  end
  return column
end
function spec.by_rank(_, pop, values)
  local out = {}
  for k = 1, #pop do out[pop[k]] = values[k] end
  return out
end
package.loaded["genvm_policy.tabulate"] = spec
