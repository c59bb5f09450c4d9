--- Replay vector files against an installed hook's runtime under a plain Lua interpreter.
--
-- Usage: `lua5.3 dispatch/vectors/verify_installed.lua HOOK FILE...` (any working
-- folder). Spec: docs/INSTALL.md §5 (step 5). Loads HOOK through
-- dispatch/vectors/installed.lua, so `genvm_policy.*` comes only from the hook's
-- bundle, then runs dispatch/vectors/verify.lua on the FILEs: same failure lines,
-- same `N passed, M failed` last line, same exit status. A hook that does not load
-- prints `FAIL installed hook: …` and `0 passed, 1 failed`, and exits 1.
-- This script is a shell, not part of the runtime: it may use `io` and `os`.

local folder = arg[0]:match("^(.*)[/\\][^/\\]+$") or "."
local installed = dofile(folder .. "/installed.lua")
local ok, err = pcall(installed.load, arg[1] or "", folder)
if not ok then
  print("FAIL installed hook: " .. tostring(err))
  print("0 passed, 1 failed")
  os.exit(1)
end
local files = { [0] = folder .. "/verify.lua" }
for i = 2, #arg do
  files[i - 1] = arg[i]
end
arg = files
dofile(folder .. "/verify.lua")
