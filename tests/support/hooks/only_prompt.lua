-- Test hook for the GenVM fake: lacks ExecPromptTemplate, so the module must not start.
function ExecPrompt(ctx, args, remaining_gen)
  return { data = "x", consumed_gen = 0 }
end
