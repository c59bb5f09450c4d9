--- Stand-alone serve loop: one long-lived Lua state answering framed calls on stdin.
--
-- Usage, from the repository root: `lua5.3 dispatch/vectors/serve.lua`. The protocol is
-- the mlua binary's `serve` (dispatch/mlua-host/src/serve.rs): the first frame is a Lua
-- chunk returning a table of functions, each later frame names one of them and gives
-- its byte-string arguments; a frame is a u32 field count, then each field as u32
-- length and bytes; a reply is a status byte (0 the function's string result, 1 an
-- error text), a u32 length and bytes; all little-endian. Tests drive Debian's lua5.3
-- with it exactly as they drive mlua.
--
-- Before the driver loads, the state is stripped to GenVM's sandbox (no `os`, `utf8`,
-- `debug`, no C modules); this shell keeps its own `io` handles.

local here = arg and arg[0] and arg[0]:match("^(.*)[/\\]vectors[/\\][^/\\]+$") or "dispatch"
local stdin, stdout = io.stdin, io.stdout
package.path = here .. "/?.lua"
package.cpath = ""
package.searchers[3], package.searchers[4] = nil, nil
os, utf8, debug = nil, nil, nil
package.loaded.os, package.loaded.utf8, package.loaded.debug = nil, nil, nil

local function u32()
  local b = stdin:read(4)
  if b == nil or #b < 4 then
    return nil
  end
  return (string.unpack("<I4", b))
end

local function frame()
  local n = u32()
  if n == nil then
    return nil
  end
  local fields = {}
  for i = 1, n do
    local len = u32()
    fields[i] = len > 0 and stdin:read(len) or ""
  end
  return fields
end

local function reply(status, body)
  stdout:write(string.char(status), string.pack("<I4", #body), body)
  stdout:flush()
end

local first = frame()
if first == nil then
  return
end
local chunk, why = load(first[1], "=driver", "t")
local ok, functions = false, why
if chunk then
  ok, functions = pcall(chunk)
end
if not ok or type(functions) ~= "table" then
  reply(1, tostring(functions))
  return
end
reply(0, "")
while true do
  local fields = frame()
  if fields == nil then
    break
  end
  local fn = functions[fields[1]]
  local done, result = false, "no function `" .. tostring(fields[1]) .. "`"
  if type(fn) == "function" then
    done, result = pcall(fn, table.unpack(fields, 2, #fields))
  end
  if done and type(result) == "string" then
    reply(0, result)
  else
    reply(1, done and ("the function returned a " .. type(result)) or tostring(result))
  end
end
