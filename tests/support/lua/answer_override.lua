-- Makes the host's provider call answer with the value of a Lua expression: the real call
-- still runs (so the fake records it), then `answer` (Lua source, e.g. "{data = 42}") is
-- evaluated afresh and returned in place of the provider's answer.
local answer = ...
local make = assert(load("return " .. answer, "=answer", "t", {}))
local real = __llm.exec_prompt_in_provider
__llm.exec_prompt_in_provider = function(ctx, req)
  real(ctx, req)
  return make()
end
