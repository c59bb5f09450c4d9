"""Sub-commands of the `genvm-policy` CLI, one module each.

Each module exposes `register(subparsers)`, which adds its parser and sets
`handler` (a function from the parsed namespace to an exit status).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Register = Callable[["argparse._SubParsersAction[Any]"], None]

COMMANDS: list[Register] = []

# Registration imports sit below COMMANDS because the command modules need nothing from here.
from genvm_policy.commands import catalog as catalog_command  # noqa: E402
from genvm_policy.commands import hash as hash_command  # noqa: E402

COMMANDS += [catalog_command.register, hash_command.register]
from genvm_policy.commands import check, decide, explain  # noqa: E402

COMMANDS += [check.register, decide.register, explain.register]
from genvm_policy.commands import compile as compile_command  # noqa: E402

COMMANDS += [compile_command.register]
from genvm_policy.commands import diversity, init  # noqa: E402

COMMANDS += [init.register, diversity.register]
from genvm_policy.commands import vectors as vectors_command  # noqa: E402

COMMANDS += [vectors_command.register]
from genvm_policy.commands import install as install_command  # noqa: E402
from genvm_policy.commands import replay as replay_command  # noqa: E402

COMMANDS += [install_command.register, replay_command.register]
