"""The hook bundle: one self-contained Lua file that GenVM loads as its LLM hook.

Spec: docs/HOOK.md §2 (Files on the node). Shell module: `build_hook` reads the
Lua runtime from `dispatch/` (the copy the package carries, or the checkout's:
`genvm_policy.resources`); `assemble` is the pure part.

Rules:
1. Every runtime module `dispatch/genvm_policy/<name>.lua` becomes
   `package.preload["genvm_policy.<name>"]`, in name-bytes order, so the hook
   needs no Lua-path change in either GenVM line.
2. The entry script `dispatch/genvm-policy-hook.lua` follows, with its two
   path lines replaced by the paths given (the compiled policy and the salt):
   the sandbox has no `debug`, so a script cannot find its own folder.
3. The bytes are a pure function of the sources and the two paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from genvm_policy.core.errors import PolicyError
from genvm_policy.node.compile import lua_string
from genvm_policy.node.runtimes import DISPATCH

__all__ = ["ENTRY", "HOOK_NAME", "assemble", "build_hook", "runtime_sources"]

ENTRY = "genvm-policy-hook.lua"
"""The entry script's file name in `dispatch/`; also the installed hook's name."""

HOOK_NAME = ENTRY

_PATH_LINES = {
    "policy": ("local POLICY_PATH = ", " -- genvm-policy: policy path"),
    "salt": ("local SALT_PATH = ", " -- genvm-policy: salt path"),
}


def _bundle_error(message: str) -> PolicyError:
    return PolicyError(
        "HOOK_BUNDLE",
        (),
        message,
        f"genvm-policy reads its Lua runtime from `{DISPATCH}`; reinstall the package if "
        "files are missing there",
    )


def _fix_path(source: str, which: str, path: str) -> str:
    start, end = _PATH_LINES[which]
    lines = source.split("\n")
    hits = [i for i, line in enumerate(lines) if line.startswith(start) and line.endswith(end)]
    if len(hits) != 1:
        raise _bundle_error(f"the entry script has no single {which} path line")
    if not path or "\n" in path:
        raise _bundle_error(f"the {which} path `{path!r}` is empty or spans lines")
    literal = '"' + lua_string(path.encode("utf-8")).decode("ascii") + '"'
    lines[hits[0]] = start + literal + end
    return "\n".join(lines)


def assemble(modules: Mapping[str, str], entry: str, policy_path: str, salt_path: str) -> bytes:
    """The hook's bytes from module sources (name → Lua text) and the entry script (rules 1-3)."""
    parts = ["-- genvm-policy hook, bundled from dispatch/: generated, do not edit.\n"]
    for name in sorted(modules, key=lambda n: n.encode("utf-8")):
        body = modules[name]
        if not body.endswith("\n"):
            body += "\n"
        parts.append(f'package.preload["genvm_policy.{name}"] = function(...)\n{body}end\n')
    script = _fix_path(_fix_path(entry, "policy", policy_path), "salt", salt_path)
    parts.append(script)
    return "".join(parts).encode("utf-8")


def runtime_sources(dispatch: Path = DISPATCH) -> tuple[dict[str, str], str]:
    """The runtime modules and the entry script, read from `dispatch`."""
    try:
        modules = {
            p.stem: p.read_text(encoding="utf-8")
            for p in sorted((dispatch / "genvm_policy").glob("*.lua"))
        }
        entry = (dispatch / ENTRY).read_text(encoding="utf-8")
    except OSError as err:
        raise _bundle_error(f"cannot read the Lua runtime: {err.strerror or err}".lower()) from None
    return modules, entry


def build_hook(policy_path: str, salt_path: str) -> bytes:
    """The hook file for a node whose compiled policy and salt sit at these absolute paths."""
    modules, entry = runtime_sources()
    return assemble(modules, entry, policy_path, salt_path)
