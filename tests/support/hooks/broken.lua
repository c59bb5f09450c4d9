-- Test hook for the GenVM fake: uses Lua 5.4 syntax, which Lua 5.3 cannot load.
local x <const> = 1
function ExecPrompt() end
function ExecPromptTemplate() end
