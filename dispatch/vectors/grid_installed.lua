--- Run the install grid against an installed hook's runtime under a plain Lua interpreter.
--
-- Usage: `lua5.3 dispatch/vectors/grid_installed.lua HOOK INPUT OUTPUT` (any working
-- folder). Spec: docs/INSTALL.md §5 (step 5). Loads HOOK through installed.lua, so
-- `genvm_policy.*` comes only from the hook's bundle, then writes grid.lua's output
-- for the INPUT file to OUTPUT. A failure prints `FAIL …` on stdout and exits 1.
-- This script is a shell, not part of the runtime: it may use `io` and `os`.

local folder = arg[0]:match("^(.*)[/\\][^/\\]+$") or "."
local installed = dofile(folder .. "/installed.lua")
local ok, err = pcall(installed.load, arg[1] or "", folder)
if not ok then
  print("FAIL installed hook: " .. tostring(err))
  os.exit(1)
end
local input = io.open(arg[2] or "", "rb")
if input == nil then
  print("FAIL the grid input `" .. tostring(arg[2]) .. "` cannot be read")
  os.exit(1)
end
local data = input:read("a")
input:close()
local ran, out = pcall(function() return require("vectors.grid").run(data) end)
if not ran then
  print("FAIL the grid stopped: " .. tostring(type(out) == "table" and out.message or out))
  os.exit(1)
end
local output = io.open(arg[3] or "", "wb")
if output == nil or not output:write(out) then
  print("FAIL the grid output `" .. tostring(arg[3]) .. "` cannot be written")
  os.exit(1)
end
output:close()
print("ok")
