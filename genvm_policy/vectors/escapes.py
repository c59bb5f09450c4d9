"""Host escapes and input helpers shared by every reference vector runner.

Spec: docs/VECTORS.md ("Host escapes"). Rule 2 of `run.py` in one place, so
the runners of the foundation kinds (`run.py`) and of the policy kinds
(`run_policy.py`) read their inputs alike.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from genvm_policy.core.errors import Path, PolicyError

__all__ = ["Runner", "bad", "field", "host", "path_of"]

Runner = Callable[[dict[str, Any]], Any]


def bad(path: Path, message: str) -> PolicyError:
    """A broken vector input (`VEC_FORMAT`): never a result of the code under test."""
    return PolicyError("VEC_FORMAT", path, message)


def _escape(key: str, arg: Any, path: Path) -> Any:
    """The host value of one escape map `{key: arg}` (rule 2)."""
    if key == "$int" and isinstance(arg, bytes) and 1 <= len(arg) <= 8:
        return int.from_bytes(arg, "big", signed=True)
    if key == "$float" and isinstance(arg, bytes) and len(arg) == 8:
        return struct.unpack(">d", arg)[0]
    if key == "$text" and isinstance(arg, bytes):
        # Invalid UTF-8 becomes lone surrogates, which the reference rejects as
        # the Lua runtime rejects the raw bytes.
        return arg.decode("utf-8", "surrogateescape")
    if key == "$entry" and isinstance(arg, list) and len(arg) == 2:
        return {host(arg[0], (*path, key, 0)): host(arg[1], (*path, key, 1))}
    if key == "$nest" and isinstance(arg, list) and len(arg) == 3 and arg[1] in ("array", "map"):
        value = host(arg[2], (*path, key, 2))
        for _ in range(arg[0]):
            value = [value] if arg[1] == "array" else {"k": value}
        return value
    raise bad(path, f"the host escape `{key}` has a wrong argument")


def host(value: Any, path: Path = ()) -> Any:
    """Replace the host escapes inside `value` by the host values they stand for (rule 2)."""
    if isinstance(value, dict):
        if len(value) == 1:
            key = next(iter(value))
            if key.startswith("$"):
                return _escape(key, value[key], path)
        return {k: host(v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [host(v, (*path, i)) for i, v in enumerate(value)]
    return value


def field(data: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """The input field `name`, or `default`; a missing field without one is `VEC_FORMAT`."""
    if name in data:
        return data[name]
    if default is None:
        raise bad((name,), f"the input lacks `{name}`")
    return default


def path_of(data: Mapping[str, Any]) -> Path:
    """The caller's path an input passes in `path` (default: the empty path)."""
    return tuple(field(data, "path", []))
