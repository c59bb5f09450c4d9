"""The Lua runtimes the tooling drives: sandboxed `lupa` states and stand-alone `lua5.3`.

Shell module (it imports Lua engines and starts processes); spec: docs/VECTORS.md
("Runtimes") and ../shared/GENVM.md §2 for the sandbox it reproduces.

Rules:
1. GenVM embeds Lua 5.3 and opens base, coroutine, table, io, string, math and
   package; `os`, `utf8` and `debug` are absent and no C module loads.
   `new_state` reproduces that in a fresh `lupa` state, checks `_VERSION`, and
   puts `dispatch/` (the Lua runtime, wherever `genvm_policy.resources`
   finds it) on a plain `package.path`.
2. Each call gives a fresh state, so the string-hash seed and thus `pairs`
   order differ between states, as they do between GenVM's VMs.
3. A `binary` state exchanges Lua strings as Python `bytes` both ways, for
   code that hands raw bytes across (hashes, canonical CBOR).
4. `run_standalone` runs a script under Debian's `lua5.3` (or another named
   interpreter) and names the interpreter when it is not installed;
   `standalone_runner` is `vector_runner` under such an interpreter.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genvm_policy.resources import resource

__all__ = [
    "DISPATCH",
    "ROOT",
    "STANDALONE",
    "VERSIONS",
    "MissingInterpreter",
    "new_state",
    "run_standalone",
    "standalone_runner",
    "vector_runner",
]

ROOT = Path(__file__).resolve().parents[2]
"""The repository root in a checkout (tests and the vector generator run from it)."""

DISPATCH = resource("dispatch")
"""The Lua runtime's root: `require("genvm_policy.numeric")` finds files here."""

VERSIONS = {"lua53": "Lua 5.3", "lua54": "Lua 5.4"}
"""The `lupa` engines and the `_VERSION` each must report."""

STANDALONE = "lua5.3"
"""The stand-alone interpreter: a second, independent Lua 5.3 build."""

_SANDBOX = """
local path = ...
os, utf8, debug = nil, nil, nil
package.loaded.os, package.loaded.utf8, package.loaded.debug = nil, nil, nil
package.cpath = ""
package.path = path
-- GenVM's loader finds no C modules: drop the C searchers.
package.searchers[3], package.searchers[4] = nil, nil
"""


class MissingInterpreter(RuntimeError):
    """The stand-alone Lua interpreter is not installed on this machine."""


def new_state(
    version: str = "lua53", *, extra_path: Path | None = None, binary: bool = False
) -> Any:
    """A fresh Lua state of `version` ("lua53" or "lua54") shaped like GenVM's sandbox.

    `extra_path` is searched before `dispatch/`. With `binary`, Lua strings come
    back as `bytes` and Python `str` arguments must be passed as `bytes`.
    """
    if version not in VERSIONS:
        raise ValueError(f"unknown Lua runtime {version!r}; use one of {sorted(VERSIONS)}")
    module = importlib.import_module(f"lupa.{version}")
    options: dict[str, Any] = {"unpack_returned_tuples": True, "register_eval": False}
    if binary:
        options["encoding"] = None
    lua = module.LuaRuntime(**options)
    got = lua.eval("_VERSION")
    expected = VERSIONS[version].encode() if binary else VERSIONS[version]
    if got != expected:
        raise RuntimeError(f"lupa.{version} runs {got!r}, expected {VERSIONS[version]}")
    paths = [str(DISPATCH / "?.lua")]
    if extra_path is not None:
        paths.insert(0, str(extra_path / "?.lua"))
    path = ";".join(paths)
    lua.execute(_SANDBOX, path.encode() if binary else path)
    return lua


def vector_runner(version: str) -> Callable[[str, bytes], bytes]:
    """The vector runner `dispatch/vectors/runner.lua` in a fresh sandboxed `version` state.

    The returned function maps `(kind, canonical case input)` to the canonical
    bytes of the result (docs/VECTORS.md, "Pass rule").
    """
    lua = new_state(version, binary=True)
    runner = lua.execute('return (require("vectors.runner"))')

    def run(kind: str, data: bytes) -> bytes:
        result: bytes = runner.run(kind.encode(), data)
        return result

    return run


def run_standalone(
    script: Path, args: Sequence[str], *, interpreter: str = STANDALONE, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run `script` with `args` under the stand-alone `interpreter`, beside `dispatch/`.

    Raises `MissingInterpreter` naming the interpreter when it is not on `PATH`.
    """
    found = shutil.which(interpreter)
    if found is None:
        raise MissingInterpreter(
            f"the stand-alone interpreter `{interpreter}` is not installed "
            f"(on Debian: apt-get install {interpreter})"
        )
    return subprocess.run(
        [found, str(script), *args],
        cwd=DISPATCH.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def standalone_runner(interpreter: str = STANDALONE) -> Callable[[str, bytes], bytes]:
    """`vector_runner` under the stand-alone `interpreter` (`dispatch/vectors/run_case.lua`).

    Raises `MissingInterpreter` naming the interpreter when it is not on `PATH`,
    and `RuntimeError` with the interpreter's last line when the script stops.
    """
    found = shutil.which(interpreter)
    if found is None:
        raise MissingInterpreter(
            f"the stand-alone interpreter `{interpreter}` is not installed "
            f"(on Debian: apt-get install {interpreter})"
        )
    script = str(DISPATCH / "vectors" / "run_case.lua")

    def run(kind: str, data: bytes) -> bytes:
        done = subprocess.run(
            [found, script, kind], input=data, capture_output=True, timeout=600, check=False
        )
        if done.returncode != 0:
            last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])
            raise RuntimeError(f"{interpreter} stopped: {last[-1]}")
        return done.stdout

    return run
