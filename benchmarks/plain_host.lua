-- A minimal GenVM host written in Lua, for the hook rows (benchmarks/README.md,
-- "Hook rows"). It gives the bundled hook the globals its top level and
-- `ExecPrompt` read, shaped as the V2 line before host hashes offered them
-- (../shared/GENVM.md §4): `__llm.providers` and `templates`, a provider that
-- answers at once, and `__dflt` without `sha2_256`, so the hook hashes in pure
-- Lua, its worst case on a node. No host function crosses into Python, so a
-- timing is the hook's own Lua work plus one Python → Lua call.
local providers = ...

local answer = { data = "ok", consumed_gen = 0 }

__llm = { providers = providers, templates = {} }

function __llm.exec_prompt_in_provider(ctx, req)
  return answer
end

__dflt = {}

function __dflt.log_json(t) end

function __dflt.user_error(t)
  error(t, 0)
end

-- Errors this host raises are the tables `user_error` was given.
function __dflt.as_user_error(e)
  if type(e) == "table" and type(e.causes) == "table" then return e end
  return nil
end

function __dflt.sleep_seconds(seconds) end
