"""Golden vectors: the language-neutral contract every runtime replays bit for bit.

Spec: docs/VECTORS.md. `kinds` is the registry, `generate*` the case inputs,
`run` the reference runners, `format` the file format, `verify` the replay.
The package is pure: the CLI (`genvm_policy.cli.commands.vectors`) reads and writes
the files and `genvm_policy.node.runtimes` drives the Lua runtimes.
"""

from __future__ import annotations

from genvm_policy.vectors.format import Case, VectorFile, read_file, write_file
from genvm_policy.vectors.kinds import KINDS, Kind
from genvm_policy.vectors.verify import Report, build, verify_file

__all__ = [
    "KINDS",
    "Case",
    "Kind",
    "Report",
    "VectorFile",
    "build",
    "read_file",
    "verify_file",
    "write_file",
]
