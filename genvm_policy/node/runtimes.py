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
   interpreter) and names the interpreter when it is not installed.
5. `mlua_state` drives the binary of `dispatch/mlua-host/` (mlua 0.10.3, Lua 5.3,
   GenVM's library set), `standalone_state` Debian's `lua5.3` running
   `dispatch/vectors/serve.lua`: one long-lived process per state, framed calls on
   its pipes; `MissingInterpreter` names the build command or the package.
   `vector_runner("mlua")` and `vector_runner("lua-standalone")` run the vector
   runner in such a state.
"""

from __future__ import annotations

import importlib
import shutil
import struct
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genvm_policy.resources import resource

__all__ = [
    "DISPATCH",
    "MLUA_BINARY",
    "ROOT",
    "STANDALONE",
    "VERSIONS",
    "FramedState",
    "MissingInterpreter",
    "mlua_binary",
    "mlua_state",
    "new_state",
    "run_mlua",
    "run_standalone",
    "standalone_state",
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

MLUA_CRATE = DISPATCH / "mlua-host"
MLUA_BINARY = MLUA_CRATE / "target" / "release" / "genvm-policy-mlua"
"""The mlua runtime's binary, built by `cargo build --release --locked` in its crate."""

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

    `version` is a `lupa` engine, "mlua" or "lua-standalone" (rule 5).

    The returned function maps `(kind, canonical case input)` to the canonical
    bytes of the result (docs/VECTORS.md, "Pass rule").
    """
    driver = b'return (require("vectors.runner"))'
    if version in ("mlua", "lua-standalone"):
        state = mlua_state(driver) if version == "mlua" else standalone_state(driver)
        return lambda kind, data: state.run(kind.encode(), data)
    lua = new_state(version, binary=True)
    runner = lua.execute('return (require("vectors.runner"))')

    def run(kind: str, data: bytes) -> bytes:
        result: bytes = runner.run(kind.encode(), data)
        return result

    return run


def mlua_binary() -> Path:
    """The mlua binary: the checkout's build, else `genvm-policy-mlua` on `PATH`.

    The wheel carries no Rust build (it would tie the package to one platform),
    so an installed package finds a host built from a checkout through `PATH`.
    `MissingInterpreter` names the build command when neither is there.
    """
    if MLUA_BINARY.is_file():
        return MLUA_BINARY
    found = shutil.which(MLUA_BINARY.name)
    if found is not None:
        return Path(found)
    raise MissingInterpreter(
        "the mlua runtime is not built: in a checkout, run `cargo build --release --locked` "
        f"in dispatch/mlua-host (needs a Rust toolchain; crates from crates.io), or put its "
        f"target/release/{MLUA_BINARY.name} on PATH"
    )


class FramedState:
    """A long-lived Lua process running a driver chunk; `state.NAME(*bytes)` calls its `NAME`.

    `command` speaks the framed protocol of the mlua binary's `serve`; the chunk must
    return a table of functions that take and return Lua strings.
    """

    def __init__(self, command: Sequence[str], driver: bytes) -> None:
        self._name = Path(command[0]).name
        self._proc = subprocess.Popen(
            list(command), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._send([driver])

    def _send(self, fields: Sequence[bytes]) -> bytes:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        frame = [struct.pack("<I", len(fields))]
        for f in fields:
            frame += [struct.pack("<I", len(f)), f]
        self._proc.stdin.write(b"".join(frame))
        self._proc.stdin.flush()
        head = self._proc.stdout.read(5)
        if len(head) < 5:
            raise RuntimeError(f"{self._name} stopped")
        body = self._proc.stdout.read(struct.unpack("<I", head[1:])[0])
        if head[0] != 0:
            raise RuntimeError(f"{self._name}: {body.decode('utf-8', 'replace')}")
        return body

    def call(self, name: str, *args: bytes) -> bytes:
        """The driver's `name` applied to `args`."""
        return self._send([name.encode(), *args])

    def __getattr__(self, name: str) -> Callable[..., bytes]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: self.call(name, *args)

    def close(self) -> None:
        """End the process."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=60)


def mlua_state(driver: bytes) -> FramedState:
    """A fresh mlua state (GenVM's sandbox, `dispatch/` on the path) running `driver`."""
    return FramedState([str(mlua_binary()), "serve", str(DISPATCH)], driver)


def standalone_state(driver: bytes, interpreter: str = STANDALONE) -> FramedState:
    """A fresh stand-alone `interpreter` state (stripped to GenVM's sandbox) running `driver`."""
    found = shutil.which(interpreter)
    if found is None:
        raise MissingInterpreter(
            f"the stand-alone interpreter `{interpreter}` is not installed "
            f"(on Debian: apt-get install {interpreter})"
        )
    return FramedState([found, str(DISPATCH / "vectors" / "serve.lua")], driver)


def run_mlua(args: Sequence[str], *, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run the mlua binary with `args`; `MissingInterpreter` names the build when it is absent."""
    return subprocess.run(
        [str(mlua_binary()), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


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
