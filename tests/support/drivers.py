"""The Lua drivers of the tests: one `.lua` file each under `tests/support/lua/`.

A driver is a chunk that returns a table (or a function) of entry points for one
concept; a test runs it in a sandboxed state (`luasandbox.new_state`), a framed
process (`runtimes.standalone_state`, `runtimes.mlua_state`) or a stand-alone
interpreter, and passes what varies as arguments, never by editing the source.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["LUA", "driver", "driver_path"]

LUA = Path(__file__).resolve().parent / "lua"


def driver_path(name: str) -> Path:
    """The file of the driver `name` (for interpreters that take a script path)."""
    path = LUA / f"{name}.lua"
    assert path.is_file(), f"no Lua driver `{name}` in {LUA}"
    return path


def driver(name: str) -> bytes:
    """The source of the driver `name`, as the bytes a binary state or a process takes."""
    return driver_path(name).read_bytes()
