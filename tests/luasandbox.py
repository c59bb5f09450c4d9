"""Lua states stripped to GenVM's sandbox, for tests and the `lua53`/`lua54` runtimes.

GenVM embeds Lua 5.3 (mlua, feature `lua53`) and opens base, coroutine, table,
io, string, math and package; `os`, `utf8` and `debug` are absent and no C
module loads. `new_state` reproduces that in a fresh `lupa` state, checks the
interpreter's `_VERSION`, and puts `dispatch/` (the Lua runtime) on a plain
`package.path`. Each call gives a fresh state, so the string-hash seed and thus
`pairs` order differ between states, as they do between GenVM's VMs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DISPATCH = ROOT / "dispatch"

VERSIONS = {"lua53": "Lua 5.3", "lua54": "Lua 5.4"}


def new_state(version: str = "lua53", *, extra_path: Path | None = None) -> Any:
    """A fresh Lua state of `version` ("lua53" or "lua54") shaped like GenVM's sandbox."""
    if version not in VERSIONS:
        raise ValueError(f"unknown Lua runtime {version!r}; use one of {sorted(VERSIONS)}")
    module = importlib.import_module(f"lupa.{version}")
    lua = module.LuaRuntime(unpack_returned_tuples=True, register_eval=False)
    got = lua.eval("_VERSION")
    if got != VERSIONS[version]:
        raise RuntimeError(f"lupa.{version} runs {got}, expected {VERSIONS[version]}")
    paths = [str(DISPATCH / "?.lua")]
    if extra_path is not None:
        paths.insert(0, str(extra_path / "?.lua"))
    lua.execute(
        """
        local path = ...
        os, utf8, debug = nil, nil, nil
        package.loaded.os, package.loaded.utf8, package.loaded.debug = nil, nil, nil
        package.cpath = ""
        package.path = path
        -- GenVM's loader finds no C modules: drop the C searchers.
        package.searchers[3], package.searchers[4] = nil, nil
        """,
        ";".join(paths),
    )
    return lua
