"""`genvm-policy hash`: print one identity, `sha256:<64 hex>`, and nothing else.

Spec: docs/SPEC.md §3 (Identity), §5.5 (catalog) and §5.6 (GenVM view). Each
kind of input is one action of the `hash` group (`catalog`, `view`; the
policy work adds its own beside them), so scripts can rely on stdout holding
exactly one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from genvm_policy.cli.commands.catalog import add_inputs, load_catalog
from genvm_policy.cli.commands.helptext import teach
from genvm_policy.core.catalog import catalog_identity, view_identity

__all__ = ["ACTIONS", "register"]


def _catalog(args: argparse.Namespace) -> int:
    print(catalog_identity(load_catalog(args.node_config, args.overlay)))
    return 0


def _view(args: argparse.Namespace) -> int:
    print(view_identity(load_catalog(args.node_config)))
    return 0


def _add_catalog(group: argparse._SubParsersAction[Any]) -> None:
    parser = group.add_parser(
        "catalog",
        help="identity of the catalog (node config plus overlay)",
        **teach(
            "Print the catalog's identity (routes, capabilities and overlay facts) and nothing "
            "else on stdout.",
            "genvm-policy hash catalog /opt/genlayer-node --overlay facts.yaml",
        ),
    )
    add_inputs(parser)
    parser.set_defaults(handler=_catalog)


def _add_view(group: argparse._SubParsersAction[Any]) -> None:
    parser = group.add_parser(
        "view",
        help="identity of the GenVM view (what the hook sees of the catalog)",
        **teach(
            "Print the GenVM view's identity: the part of the catalog the hook sees on the "
            "node. The overlay never changes it.",
            "genvm-policy hash view /opt/genlayer-node",
        ),
    )
    add_inputs(parser, overlay=False)
    parser.set_defaults(handler=_view)


ACTIONS: list[Callable[[argparse._SubParsersAction[Any]], None]] = [_add_catalog, _add_view]
"""The `hash` group's actions; a later kind appends its own `add` function here."""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `hash` group with every action in `ACTIONS`."""
    parser = subparsers.add_parser(
        "hash",
        help="print an identity (sha256:...) on one line",
        **teach(
            "Print one identity, `sha256:<64 hex>`, and nothing else on stdout, so scripts can "
            "compare it.",
            "genvm-policy hash catalog /opt/genlayer-node",
            "genvm-policy hash policy policy.yaml",
        ),
    )
    group = parser.add_subparsers(dest="hash_command", metavar="KIND", required=True)
    for add in ACTIONS:
        add(group)
