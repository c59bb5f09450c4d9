"""Lua states stripped to GenVM's sandbox, for tests, and a driver loaded in every Lua runtime.

The builder lives in `genvm_policy.node.runtimes` (the CLI's `lua53`/`lua54`
runtimes use it too) and is re-exported here. `driver_states` loads one driver
(`support.drivers`) in a fresh state of each Lua runtime of `support.runtimes`:
lupa states in process, the stand-alone interpreter and the mlua host as framed
processes, all answering the same calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from genvm_policy.node.runtimes import (
    DISPATCH,
    ROOT,
    VERSIONS,
    FramedState,
    new_state,
)
from support.runtimes import names, runtime

__all__ = ["DISPATCH", "ROOT", "VERSIONS", "driver_states", "lua_list", "new_state"]


@contextmanager
def driver_states(source: bytes, *kinds: str) -> Iterator[dict[str, Any]]:
    """`source` loaded in one fresh state per Lua runtime (also of all `kinds`), by name.

    On exit the processes are closed and every lupa state is checked for a global the
    driver or the modules leaked (the driver returns its table, it sets no global).
    """
    chosen = names("lua", *kinds, every=True)
    states: dict[str, Any] = {}
    processes: list[FramedState] = []
    lupas: list[Any] = []
    try:
        for name in chosen:
            if name in VERSIONS:
                lupas.append(new_state(name, binary=True))
                states[name] = lupas[-1].execute(source)
            else:
                start = runtime(name).start
                assert start is not None, f"`{name}` is neither a lupa state nor a process"
                processes.append(start(source))
                states[name] = processes[-1]
        yield states
    finally:
        for process in processes:
            process.close()
    for lua in lupas:
        assert lua.eval(b"rawget(_G, 'D') == nil and rawget(_G, 'encoding') == nil")


def lua_list(lua: Any, t: Any) -> list[Any]:
    """The items of the Lua sequence `t` of state `lua`, in order."""
    return [t[i] for i in range(1, int(lua.eval("function(t) return #t end")(t)) + 1)]
