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
