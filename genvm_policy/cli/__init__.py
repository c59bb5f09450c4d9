"""The `genvm-policy` command line: the operator's shell around the pure core.

Each sub-command lives in its own module under `genvm_policy.cli.commands` and
exposes `register(subparsers)`; this module only assembles them, prints user
errors as one clean line with their code and path, and maps them to exit 2.
The CLI is the top layer: it may import every other layer of the package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from genvm_policy import __version__
from genvm_policy.core.errors import PolicyError

__all__ = ["main"]

DESCRIPTION = """\
Deterministic greybox adapter for GenLayer validators.

A validator's GenVM LLM module runs a Lua hook that picks the LLM provider and
model for each call. genvm-policy lets an operator write a policy of their own
(so validators do not all route alike), proves what it decides, and installs it.
"""

EPILOG = """\
the operator's path (NODE = the node root, e.g. /opt/genlayer-node; a version
folder, a GenVM tree or its genvm-module-llm.yaml work too):
  genvm-policy doctor NODE                           what this machine and node lack, and the fix
  genvm-policy catalog show NODE [--overlay FACTS]   the routes GenVM offers, with your facts
  genvm-policy init NODE -o DIR                      a starter policy unique to this node
  genvm-policy explain --catalog NODE --policy DIR/policy.yaml
                                                     what it decides for each sample request
  genvm-policy vectors verify --runtime all          every runtime agrees with the reference
  genvm-policy install --node-root NODE --policy DIR/policy.yaml
                                                     verify, install and switch the hook
  genvm-policy status --node-root NODE               what is installed, intact, drifted
  genvm-policy replay LOG --node-config NODE --policy DIR/policy.yaml
                                                     recompute what the node logged

Run `genvm-policy COMMAND --help` for each command's inputs and examples.

exit status: 0 success, 1 a check found a difference, 2 bad input (the message
names the code, the path into the file and what to do).
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser with every registered sub-command."""
    from genvm_policy.cli.commands import COMMANDS

    parser = argparse.ArgumentParser(
        prog="genvm-policy",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"genvm-policy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        status: int = handler(args)
    except PolicyError as err:
        print(f"genvm-policy: error: {err.render()}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    return status
