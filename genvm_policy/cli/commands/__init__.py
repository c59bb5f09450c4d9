"""Sub-commands of the `genvm-policy` CLI, one module each.

Each module exposes `register(subparsers)`, which adds its parser and sets
`handler` (a function from the parsed namespace to an exit status). `COMMANDS`
lists them in the order `--help` shows them: the operator's path first.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from genvm_policy.cli.commands import catalog as catalog_command
from genvm_policy.cli.commands import check, decide, diversity, doctor, explain, init
from genvm_policy.cli.commands import compile as compile_command
from genvm_policy.cli.commands import hash as hash_command
from genvm_policy.cli.commands import install as install_command
from genvm_policy.cli.commands import replay as replay_command
from genvm_policy.cli.commands import vectors as vectors_command

Register = Callable[["argparse._SubParsersAction[Any]"], None]

COMMANDS: list[Register] = [
    doctor.register,
    catalog_command.register,
    hash_command.register,
    check.register,
    decide.register,
    explain.register,
    compile_command.register,
    init.register,
    diversity.register,
    vectors_command.register,
    install_command.register,
    replay_command.register,
]
