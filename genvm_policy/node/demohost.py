"""A minimal GenVM LLM-module host: load an installed hook in Lua 5.3 and send it calls.

Spec: ../shared/GENVM.md §2–§5 (the surface it reproduces) and docs/OPERATOR.md
("Installing", verification). Used by `genvm-policy install` to verify the
installed files before the switch, and by the demo. It is no test fake: it
offers just what a hook needs to decide, call providers and log.

Rules:
1. One `DemoHost` is one GenVM VM: a fresh sandboxed `lupa` state (no `os`,
   `utf8`, `debug`; `io` kept), globals `__dflt` and `__llm` only, the hook run
   once as chunk `@<path>` through `loadfile`, its entry points captured once.
2. `__llm.providers` is built from a GenVM view (SPEC §5.6), so the hook sees
   exactly the routes and facts the compiled catalog was checked against.
3. Every entry point runs in a coroutine; `exec_prompt_in_provider` and
   `sleep_seconds` yield to the driver, as GenVM's async host functions do, so
   a hook that calls the host where a yield is impossible fails here too.
4. Provider outcomes are scripted per (provider, model) and used in order; an
   empty script answers with a success. Errors are GenVM module errors: only
   `as_user_error` reads them; `status` is a float as GenVM gives it.
5. Every `log_json` table is kept as plain data: the `null` sentinel becomes
   None, an array-like table a list.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genvm_policy.core.encoding import Value
from genvm_policy.node.runtimes import new_state

__all__ = ["CallResult", "DemoHost", "Outcome"]

_HOST = r"""
local serve = ...
local ERROR = setmetatable({}, { __name = "genvm module error" })
local function module_error(causes, fatal, ctx)
  return setmetatable({ causes = causes, fatal = fatal, ctx = ctx }, ERROR)
end
__dflt = {
  log_json = function(t) serve("log", t) end,
  user_error = function(t) error(module_error(t.causes, t.fatal, t.ctx), 0) end,
  as_user_error = function(e)
    if getmetatable(e) ~= ERROR then return nil end
    return { causes = e.causes, fatal = e.fatal, ctx = e.ctx }
  end,
  sleep_seconds = function(s) coroutine.yield("sleep", s) end,
}
__llm = { providers = {}, templates = {} }
function __llm.exec_prompt_in_provider(ctx, req)
  local kind, status, text = coroutine.yield("provider", req)
  if kind == "ok" then
    local data = text
    if req.format == "bool" then data = true end
    if req.format == "json" then data = { answer = text } end
    return { data = data, consumed_gen = 0 }
  end
  if kind == "status" then
    error(module_error({ "STATUS_NOT_OK" }, true, { status = status + 0.0, body = text }), 0)
  end
  if kind == "network" then
    error(module_error({ "SENDING_REQUEST" }, true, { rust_error = text }), 0)
  end
  error(text, 0)
end
local function drive(fn, ctx, args)
  local co = coroutine.create(fn)
  local sent = { ctx, args, 1000000 }
  while true do
    local res = table.pack(coroutine.resume(co, table.unpack(sent, 1, sent.n or #sent)))
    if not res[1] then
      local err = __dflt.as_user_error(res[2])
      if err ~= nil then
        return "user_error", err.causes[1], err.fatal
      end
      return "error", tostring(res[2])
    end
    if coroutine.status(co) == "dead" then
      local out = res[2]
      return "ok", type(out) == "table" and out.data or nil
    end
    if res[2] == "provider" then
      local req = res[3]
      local kind, status, text = serve("provider", req.provider, req.model)
      sent = table.pack(kind, status, text)
    else
      sent = table.pack()
    end
  end
end
return drive
"""


@dataclass(frozen=True)
class Outcome:
    """A scripted provider answer: `ok` (with text), `status` (HTTP), `network` or `plain`."""

    kind: str
    status: int = 0
    text: str = ""


@dataclass
class CallResult:
    """What one entry-point call gave: `ok`, `user_error` or `error`, and its logs."""

    kind: str
    data: Any
    logs: list[dict[str, Value]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)


def _plain(lua: Any, value: Any) -> Any:
    """A Lua value as plain data (rule 5)."""
    if lua.eval("type")(value) != "table":
        return value
    meta = lua.eval("getmetatable")(value)
    if meta is not None and meta["__name"] == "null":
        return None
    items = list(value.items())
    keys = [k for k, _ in items]
    if items and sorted(keys, key=repr) == list(range(1, len(items) + 1)):
        return [_plain(lua, value[i]) for i in range(1, len(items) + 1)]
    return {str(k): _plain(lua, v) for k, v in items}


class DemoHost:
    """One GenVM VM running a hook file (rule 1)."""

    def __init__(self, hook_path: str, view: Value, *, version: str = "lua53") -> None:
        self.lua = new_state(version)
        self.scripts: dict[tuple[str, str], deque[Outcome]] = {}
        self.logs: list[dict[str, Value]] = []
        self._calls: list[tuple[str, str]] = []
        self.drive = self.lua.execute(_HOST, self._serve)
        self._providers(view)
        loader = self.lua.eval(
            "function(p) local f, e = loadfile(p); if not f then error(e, 0) end f() end"
        )
        loader(hook_path)
        g = self.lua.globals()
        self.entries = {name: g[name] for name in ("ExecPrompt", "ExecPromptTemplate")}
        if any(fn is None for fn in self.entries.values()):
            raise RuntimeError("the hook does not define ExecPrompt and ExecPromptTemplate")

    def _providers(self, view: Value) -> None:
        assert isinstance(view, dict) and isinstance(view["routes"], list)
        table = self.lua.eval("__llm.providers")
        new = self.lua.table
        for r in view["routes"]:
            assert isinstance(r, dict)
            if table[r["provider"]] is None:
                meta = new() if r["priority"] is None else new(priority=r["priority"])
                table[r["provider"]] = new(models=new(), meta=meta)
            chains = new()
            for chain in ("text", "image"):
                if r[f"greybox_{chain}"] is not None:
                    chains[chain] = r[f"greybox_{chain}"]
            table[r["provider"]]["models"][r["model"]] = new(
                enabled=True,
                supports_json=r["json"],
                supports_image=r["image"],
                use_max_completion_tokens=r["max_completion_tokens"],
                meta=new(greybox=chains),
            )

    def script(self, provider: str, model: str, *outcomes: Outcome) -> None:
        """Queue outcomes for one route (rule 4)."""
        self.scripts.setdefault((provider, model), deque()).extend(outcomes)

    def _serve(self, what: str, *args: Any) -> Any:
        if what == "log":
            self.logs.append(_plain(self.lua, args[0]))
            return None
        provider, model = args
        self._calls.append((provider, model))
        queue = self.scripts.get((provider, model))
        out = queue.popleft() if queue else Outcome("ok", text=f"answer from {model}")
        return out.kind, out.status, out.text

    def call(self, entry: str, args: Mapping[str, Any], ctx: Mapping[str, Any]) -> CallResult:
        """Run one entry point to its end (rule 3); `ctx` is the session's table."""
        first_log, self._calls = len(self.logs), []
        lua_args = self.lua.table_from(dict(args))
        if "images" in args:
            lua_args["images"] = self.lua.table_from(list(args["images"]))
        result = self.drive(self.entries[entry], ctx, lua_args)
        kind, data = result[0], result[1]
        return CallResult(kind, data, self.logs[first_log:], self._calls)

    def new_ctx(self, host_data: Mapping[str, Any], genvm_id: str) -> Any:
        """A session's `ctx`: host data and the session id, as GenVM's hello gives them."""
        return self.lua.table_from(
            {"host_data": self.lua.table_from(dict(host_data)), "genvm_id": genvm_id}
        )
