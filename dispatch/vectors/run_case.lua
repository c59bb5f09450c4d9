--- Run one vector case under a plain Lua interpreter: the case on stdin, the result on stdout.
--
-- Usage: `lua5.3 dispatch/vectors/run_case.lua KIND < CASE` (any working folder).
-- Spec: docs/VECTORS.md ("Pass rule"). CASE is the canonical CBOR of one case
-- input of KIND; stdout gets the canonical bytes of its result from
-- dispatch/vectors/runner.lua and nothing else, so a caller compares or decodes
-- them as it does those of a `lupa` state. Used by
-- `genvm-policy decide --runtime lua-standalone`.
-- This script is a shell, not part of the runtime: it may use `io`.

local here = arg[0]:match("^(.*)[/\\]vectors[/\\][^/\\]+$") or "dispatch"
package.path = here .. "/?.lua;" .. package.path

local runner = require("vectors.runner")

io.stdout:write(runner.run(arg[1], io.stdin:read("a")))
