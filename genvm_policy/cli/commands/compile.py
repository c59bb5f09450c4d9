"""`genvm-policy compile`: admit a policy against the node's catalog and write the compiled file.

Spec: docs/HOOK.md §3 (The compiled policy). Shell: reads the policy, the node
config and the overlay, writes the output file; `genvm_policy.node.compile` builds
the bytes. Prints the compiled identity, then the policy, catalog and GenVM-view
identities, one `kind sha256:…` line each.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from genvm_policy.cli.commands.catalog import load_catalog
from genvm_policy.cli.commands.check import POLICY_HELP, add_catalog_options, load_policy
from genvm_policy.cli.commands.helptext import teach
from genvm_policy.core.errors import PolicyError
from genvm_policy.node.compile import compile_policy, read_compiled

__all__ = ["register"]


def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it, so no reader sees half."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError as err:
        raise PolicyError(
            "SRC_IO", (), f"cannot write `{path}`: {err.strerror or err}".lower()
        ) from None


def _compile(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog, args.overlay)
    policy = load_policy(args.policy, catalog)
    data = compile_policy(catalog, policy)
    compiled = read_compiled(data)  # the reader's checks guard the writer
    write_atomic(args.output, data)
    print(f"compiled {compiled.identity}")
    print(f"policy {compiled.policy_id}")
    print(f"catalog {compiled.catalog_id}")
    print(f"genvm-view {compiled.view_id}")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `compile POLICY --catalog NODE_CONFIG [--overlay FILE] -o FILE`."""
    parser = subparsers.add_parser(
        "compile",
        help="write the compiled policy the GenVM hook loads",
        **teach(
            "Admit POLICY against the node's catalog and write the data-only Lua file the "
            "hook reads (docs/HOOK.md). `install` does this itself; compile is for looking "
            "at the file or shipping it by other means.",
            "genvm-policy compile policy.yaml --catalog /opt/genlayer-node -o policy.lua",
        ),
    )
    parser.add_argument("policy", metavar="POLICY", help=POLICY_HELP)
    add_catalog_options(parser, required=True)
    parser.add_argument("-o", "--output", metavar="FILE", required=True, help="file to write")
    parser.set_defaults(handler=_compile)
