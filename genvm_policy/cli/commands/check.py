"""`genvm-policy check` and `hash policy`: admit a policy file, print its identity.

Spec: docs/SPEC.md §7 (Policy language and admission). Shell: reads the policy
(YAML, TOML or JSON) and, when given, the catalog it is checked against;
`load_policy` is shared with `decide` and `explain`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import BUILTINS, builtin
from genvm_policy.cli.commands import hash as hash_command
from genvm_policy.cli.commands.catalog import NODE_CONFIG_HELP, OVERLAY_HELP, load_catalog
from genvm_policy.cli.commands.helptext import teach
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import Policy, policy_identity
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.routability import CLASSES, analyse, refusal, report_lines

__all__ = ["load_policy", "register", "warnings"]

POLICY_HELP = "policy file (YAML, TOML or JSON), or a built-in: " + ", ".join(sorted(BUILTINS))


def load_policy(source: str, catalog: Catalog | None) -> Policy:
    """Admit the policy file `source` (or the built-in of that name) against `catalog`."""
    if source in BUILTINS:
        policy = builtin(source)
        if catalog is not None:
            admit(BUILTINS[source], catalog)
        return policy
    document = load_document(source, what="policy")
    try:
        return admit(document, catalog)
    except PolicyError as err:
        raise PolicyError(
            err.code, err.path, f"policy `{source}`: {err.message}", err.hint
        ) from None


def add_catalog_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """Add `--catalog NODE_CONFIG` and `--overlay FILE`."""
    parser.add_argument("--catalog", metavar="NODE", required=required, help=NODE_CONFIG_HELP)
    parser.add_argument("--overlay", metavar="FILE", help=OVERLAY_HELP)


def catalog_of(args: argparse.Namespace) -> Catalog | None:
    """The catalog named by `--catalog`/`--overlay`, or None without `--catalog`."""
    if args.catalog is None:
        if args.overlay is not None:
            raise PolicyError("POL_KEY", (), "`--overlay` needs `--catalog`")
        return None
    return load_catalog(args.catalog, args.overlay)


def prove_routes(
    catalog: Catalog, policy: Policy, allowed: Sequence[str], say: Callable[[str], None]
) -> list[str]:
    """Report every request class on `catalog` through `say` (SPEC §9.4); refuse, or accept.

    Raises `POL_UNROUTABLE` for a class the policy leaves without a route while
    the node offers one, unless `allowed` names it, and what `bind` raises.
    Returns the unroutable classes accepted, for the install manifest.
    """
    reports = analyse(catalog, policy)
    for line in report_lines(reports, allowed):
        say(line)
    err = refusal(reports, allowed)
    if err is not None:
        raise err
    return [r.name for r in reports if r.state == "policy"]


def add_allow_unroutable(parser: argparse.ArgumentParser) -> None:
    """Add `--allow-unroutable CLASS` (repeatable)."""
    parser.add_argument(
        "--allow-unroutable",
        action="append",
        default=[],
        metavar="CLASS",
        help="accept that the policy leaves request class CLASS without a route (repeatable; "
        "classes: " + ", ".join(name for name, _ in CLASSES) + ")",
    )


def warnings(catalog: Catalog, policy: Policy) -> list[str]:
    """What is legal but likely not meant, on this catalog (one line each).

    Routes the filter keeps but `max_attempts` cuts, per sample request; a plan
    entry for `non_user`, which never reaches the plan on a node (the hook
    re-raises GenVM's non-module errors, HOOK.md §9).
    """
    from genvm_policy.cli.commands.explain import SAMPLES
    from genvm_policy.core.decision import decide
    from genvm_policy.core.selection import select

    out: list[str] = []
    for request in SAMPLES:
        d = decide(catalog, policy, request, bytes(32))
        scores = dict(zip(d.survivors, d.values, strict=True))
        whole = select(d.bound, list(d.survivors), scores, request, d.seed)
        if len(whole) > len(d.ranks):
            routes = d.bound.routes
            cut = ", ".join(
                f"{routes[i].provider}/{routes[i].model}" for i in whole[len(d.ranks) :]
            )
            out.append(
                f"warning: {request.entry}/{request.format}"
                f"{' with images' if request.images else ''}: max_attempts "
                f"{policy.max_attempts} cuts {len(whole) - len(d.ranks)} route(s): {cut}"
            )
    if dict(policy.on_failure)["non_user"] != ["abort"]:
        out.append(
            "warning: on_failure.non_user never applies on a node: GenVM's non-module "
            "errors are re-raised unchanged"
        )
    return out


def _check(args: argparse.Namespace) -> int:
    catalog = catalog_of(args)
    if catalog is None and args.allow_unroutable:
        raise PolicyError(
            "POL_KEY",
            (),
            "`--allow-unroutable` needs `--catalog`",
            "routes are proved against a node's catalog: pass --catalog NODE_CONFIG",
        )
    policy = load_policy(args.policy, catalog)
    if catalog is not None:
        # The identity alone goes to stdout, as `hash policy` prints it.
        prove_routes(catalog, policy, args.allow_unroutable, _stderr)
    print(policy_identity(policy))
    if catalog is not None:
        for line in warnings(catalog, policy):
            print(line, file=sys.stderr)
    return 0


def _stderr(line: str) -> None:
    print(f"route: {line}", file=sys.stderr)


def _hash_policy(args: argparse.Namespace) -> int:
    print(policy_identity(load_policy(args.policy, None)))
    return 0


def _add_hash_policy(group: argparse._SubParsersAction[Any]) -> None:
    parser = group.add_parser(
        "policy",
        help="identity of a policy (its normal form)",
        **teach(
            "Print the policy's identity and nothing else; spellings that normalise alike "
            "(key order, YAML or TOML, `0.150` or `0.15`) share it.",
            "genvm-policy hash policy policy.yaml",
        ),
    )
    parser.add_argument("policy", metavar="POLICY", help=POLICY_HELP)
    parser.set_defaults(handler=_hash_policy)


hash_command.ACTIONS.append(_add_hash_policy)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `check POLICY [--catalog NODE_CONFIG] [--overlay FILE]`."""
    parser = subparsers.add_parser(
        "check",
        help="admit a policy and print its identity",
        **teach(
            "Admit POLICY (against the node's catalog when --catalog is given) and print its "
            "identity; on failure print the error code, the path into the file and what to do. "
            "With --catalog it also proves, as install does, that every request class has a "
            "route (one `route:` line per class on stderr) and that no decision can fail.",
            "genvm-policy check policy.yaml",
            "genvm-policy check policy.yaml --catalog /opt/genlayer-node --overlay facts.yaml",
            "genvm-policy check tee.yaml --catalog NODE --allow-unroutable text+image",
        ),
    )
    parser.add_argument("policy", metavar="POLICY", help=POLICY_HELP)
    add_catalog_options(parser, required=False)
    add_allow_unroutable(parser)
    parser.set_defaults(handler=_check)
