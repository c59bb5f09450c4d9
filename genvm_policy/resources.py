"""Where the files the package runs are: the Lua runtime, the golden vectors, the examples.

Shell module (it looks at the file system). One function answers for every
command, test and script that needs these folders, so an installed wheel and a
checkout behave alike.

Rules:
1. An installed wheel carries the folders inside the package, as
   `genvm_policy/data/<name>/` (the build copies them there from the
   repository; see `setup.py`). That copy is used when it exists.
2. A checkout, editable install included, has no such copy: the folders are
   the repository's own, beside the package (`<repository>/<name>/`).
3. The folders are plain files on disk, never read through a zip importer:
   the Lua interpreters open them by path.
4. Nothing is checked here beyond which copy exists: a command that opens a
   file below a folder that is missing reports that path with its own code.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["NAMES", "resource"]

NAMES = ("dispatch", "vectors", "examples")
"""The folders the package carries: the Lua runtime and hook, golden vectors, examples."""

_PACKAGE = Path(__file__).resolve().parent
_PACKAGED = _PACKAGE / "data"
_CHECKOUT = _PACKAGE.parent


def resource(name: str) -> Path:
    """The folder `name` (one of `NAMES`): the packaged copy, else the checkout's (rules 1-2)."""
    if name not in NAMES:
        raise ValueError(f"unknown resource {name!r}; use one of {NAMES}")
    packaged = _PACKAGED / name
    return packaged if packaged.is_dir() else _CHECKOUT / name
