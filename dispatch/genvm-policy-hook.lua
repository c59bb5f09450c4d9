-- genvm-policy: the drop-in GenVM LLM hook (docs/HOOK.md). Defines the entry points
-- ExecPrompt, ExecPromptTemplate, Setup and Teardown, and nothing else. The two paths
-- below are fixed when the hook is bundled; the sandbox cannot find its own folder.
local POLICY_PATH = "config/genvm-policy/policy.lua" -- genvm-policy: policy path
local SALT_PATH = "config/genvm-policy/salt" -- genvm-policy: salt path

local hook = require("genvm_policy.hook")
-- Once per VM, before any session: a fault here is logged and falls back, never raised.
local vm = hook.load({ policy = POLICY_PATH, salt = SALT_PATH })

function ExecPrompt(ctx, args, remaining_gen)
  return hook.exec(vm, ctx, "prompt", args, remaining_gen)
end

function ExecPromptTemplate(ctx, args, remaining_gen)
  return hook.exec(vm, ctx, args.template, args, remaining_gen)
end

-- Per-session state is created lazily on `ctx` (Setup may never be called).
function Setup(ctx)
  hook.setup(ctx)
end

-- The session's statistics go to GenVM's data_dir, as the stock script's do.
function Teardown(ctx)
  hook.teardown(ctx)
end
