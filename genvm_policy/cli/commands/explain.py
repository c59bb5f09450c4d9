"""`genvm-policy explain`: the decision for sample requests, as readable tables.

Spec: docs/SPEC.md §9 (Decision). Shell: with no request options it explains
every sample request (`SAMPLES`): text, json, bool, image and each template.
"""

from __future__ import annotations

import argparse
from typing import Any

from genvm_policy.cli.commands.decide import (
    add_request_options,
    inputs,
    render,
    request_of,
    seed_of,
)
from genvm_policy.cli.commands.helptext import teach
from genvm_policy.core.decision import decide
from genvm_policy.core.request import Request, make_request

__all__ = ["SAMPLES", "register"]

SAMPLES: tuple[Request, ...] = (
    make_request(format="text"),
    make_request(format="json"),
    make_request(format="bool"),
    make_request(format="text", images=1),
    make_request(entry="EqComparative"),
    make_request(entry="EqNonComparativeLeader"),
    make_request(entry="EqNonComparativeValidator"),
)


def _explain(args: argparse.Namespace) -> int:
    catalog, policy, catalog_id = inputs(args)
    one = request_of(args)
    seed = seed_of(args)
    print(f"policy {args.policy}")
    for request in (one,) if one is not None else SAMPLES:
        print()
        print(render(request, decide(catalog, policy, request, seed, catalog_id=catalog_id)))
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `explain` with the inputs of `decide`."""
    parser = subparsers.add_parser(
        "explain",
        help="show decisions for sample requests (or one request) as tables",
        **teach(
            "Admit the policy against the node's catalog and show, per request, the ordered "
            "attempts with parameters, rejected routes with reasons, scores and identities. "
            "Without request options every sample request is shown: text, json, bool, image "
            "and each template.",
            "genvm-policy explain --catalog /opt/genlayer-node --policy ~/genvm-policy/policy.yaml",
            "genvm-policy explain --catalog NODE --policy policy.yaml --entry EqComparative",
        ),
    )
    add_request_options(parser)
    parser.set_defaults(handler=_explain)
