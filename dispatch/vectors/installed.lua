--- Load an installed hook file so that its bundled runtime modules answer `require`.
--
-- Spec: docs/INSTALL.md §5 (step 5, verify) and docs/HOOK.md §2 (the bundle). Used by
-- genvm_policy/installcheck.py in `lupa` states and by dispatch/vectors/verify_installed.lua
-- under the stand-alone interpreter, so that the golden vectors test the files a node
-- will run, not the source tree.
--
-- Rules:
-- 1. `require` is narrowed before the hook runs: `package.preload` first (the hook's
--    bundle), then only `vectors.<name>` from the folder given. The Lua-path and C
--    searchers are removed, so a runtime module missing from the bundle is an error,
--    never a silent fall-back to `dispatch/genvm_policy/`.
-- 2. The hook runs once as a chunk, as GenVM runs it, with `os`, `utf8` and `debug`
--    hidden and stub globals enough for its top level: `__dflt.log_json` that drops
--    what it gets and `__llm` with no providers (the hook then logs a fault and falls
--    back; its entry points are not under test here). The caller's `os`, `utf8` and
--    `debug` are restored afterwards.
-- 3. `load` refuses a state where some `genvm_policy.*` module is loaded already, and
--    returns how many `genvm_policy.*` modules the bundle preloads.

local M = {}

local function searcher(folder)
  return function(name)
    local stem = name:match("^vectors%.([%w_]+)$")
    if stem == nil then
      return "\n\tno module `" .. name .. "` in the installed hook's bundle"
    end
    local file = folder .. "/" .. stem .. ".lua"
    local chunk, why = loadfile(file)
    if chunk == nil then
      error(why, 0)
    end
    return chunk, file
  end
end

--- Run the hook file `hook_path`; afterwards `require` resolves as rule 1 says.
function M.load(hook_path, vectors_folder)
  for name in pairs(package.loaded) do
    if name:match("^genvm_policy%.") then
      error("the runtime module `" .. name .. "` is loaded before the installed hook", 0)
    end
  end
  local searchers = package.searchers
  for i = #searchers, 2, -1 do
    searchers[i] = nil
  end
  searchers[2] = searcher(vectors_folder)
  local chunk, why = loadfile(hook_path)
  if chunk == nil then
    error("the installed hook does not load: " .. tostring(why), 0)
  end
  local saved = { os = os, utf8 = utf8, debug = debug }
  os, utf8, debug = nil, nil, nil
  __dflt = { log_json = function() end }
  __llm = { providers = {}, templates = {} }
  local ok, err = pcall(chunk)
  os, utf8, debug = saved.os, saved.utf8, saved.debug
  if not ok then
    error("the installed hook's top level failed: " .. tostring(err), 0)
  end
  local count = 0
  for name in pairs(package.preload) do
    if name:match("^genvm_policy%.") then
      count = count + 1
    end
  end
  return count
end

return M
