-- Baseline for the hook rows: a GenVM LLM hook that does nothing but forward each
-- call to one fixed route. Timing it under the same GenVM fake as the real hook
-- and subtracting leaves the real hook's own cost (decision, mutation, seed
-- derivation, records, identities), without the fake's.
local first_provider, first_model
for provider, backend in pairs(__llm.providers) do
  for model in pairs(backend.models) do
    first_provider, first_model = provider, model
    break
  end
  break
end

local function forward(ctx, args)
  return __llm.exec_prompt_in_provider(ctx, {
    provider = first_provider, model = first_model, format = args.response_format or "text",
    prompt = { user_message = args.prompt or "", temperature = 0.7, images = {},
               max_tokens = 1000, use_max_completion_tokens = false },
  })
end

function ExecPrompt(ctx, args, remaining_gen)
  return forward(ctx, args)
end

function ExecPromptTemplate(ctx, args, remaining_gen)
  return forward(ctx, args)
end
