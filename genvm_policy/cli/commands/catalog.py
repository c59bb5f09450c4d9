"""`genvm-policy catalog show`: the routes GenVM offers, with the overlay's facts.

Spec: docs/SPEC.md §5 (The validator catalog) and §5.8 (families: the table
shows each route's family and its origin). Shell: reads the node config and
the overlay from files; `load_catalog` is shared by every command that reads a
node's LLM config, so each takes a node root, a version folder, a GenVM tree
or the config file, found as `install` finds it
(`genvm_policy.operator.nodetree.find_config`), and says on stderr which file it read
when it had to look for it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.cli.commands.helptext import teach
from genvm_policy.core.catalog import Catalog, Route, catalog_value
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.numeric import SCALES, format_units
from genvm_policy.loaders.sources import load_document
from genvm_policy.operator.nodetree import find_config

__all__ = ["load_catalog", "node_config_path", "register", "render_table"]

NODE_CONFIG_HELP = (
    "the node's GenVM LLM config: a node root (e.g. /opt/genlayer-node), one version "
    "folder of it, a GenVM tree, or the genvm-module-llm.yaml file itself"
)
OVERLAY_HELP = "operator overlay with prices, context windows, tiers (YAML or TOML)"


def node_config_path(node: str) -> str:
    """The LLM config file that `node` names; tells on stderr which one when it looked."""
    config, where = find_config(Path(node))
    if where is not None:
        print(f"genvm-policy: reading the node config `{config}` ({where})", file=sys.stderr)
    return str(config)


def load_catalog(node_config: str, overlay: str | None = None) -> Catalog:
    """Read the node's config (`node_config_path`) and the overlay and build the catalog.

    Errors name the file they come from.
    """
    node_config = node_config_path(node_config)
    config_doc = load_document(node_config, what="node config")
    overlay_doc = load_document(overlay, what="overlay") if overlay is not None else None
    if overlay_doc is not None and not isinstance(overlay_doc, dict):
        raise PolicyError("OVL_TYPE", (), f"overlay `{overlay}` must be a map")
    if not isinstance(config_doc, dict):
        raise PolicyError("CAT_SHAPE", (), f"node config `{node_config}` must be a map")
    try:
        return build_catalog(config_doc, overlay_doc)
    except PolicyError as err:
        # Node-config rules have CAT_ codes; every other code comes from the overlay.
        source = f"node config `{node_config}`"
        if not err.code.startswith("CAT_"):
            source = f"overlay `{overlay}`"
        raise PolicyError(err.code, err.path, f"{source}: {err.message}", err.hint) from None


def add_inputs(parser: argparse.ArgumentParser, *, overlay: bool = True) -> None:
    """Add the NODE_CONFIG argument and, if asked, `--overlay FILE`."""
    parser.add_argument("node_config", metavar="NODE", help=NODE_CONFIG_HELP)
    if overlay:
        parser.add_argument("--overlay", metavar="FILE", help=OVERLAY_HELP)


def _cell(value: int | None, kind: str) -> str:
    return "-" if value is None else format_units(value, SCALES[kind])


def _row(catalog: Catalog, r: Route) -> list[str]:
    def position(n: int | None) -> str:
        return "-" if n is None else str(n)

    caps = ("json " if r.json else "") + ("image" if r.image else "")
    marks = ("tee " if r.has_tee else "") + ("no-log" if r.no_log else "")
    extra = " ".join(f"{name}={value}" for name, value in r.fields)
    return [
        r.provider,
        r.model,
        r.kind,
        caps.strip() or "text",
        f"{position(r.greybox_text)}/{position(r.greybox_image)}",
        position(r.priority),
        r.family,
        catalog.family_origin(r),
        r.tier or "-",
        _cell(r.price_in, "price"),
        _cell(r.price_out, "price"),
        _cell(r.context, "count"),
        " ".join(filter(None, [marks.strip(), extra])) or "-",
    ]


HEADER = [
    "provider",
    "model",
    "kind",
    "caps",
    "greybox t/i",
    "prio",
    "family",
    "from",
    "tier",
    "$in/M",
    "$out/M",
    "context",
    "notes",
]


def render_table(catalog: Catalog) -> str:
    """The catalog as an aligned text table, one route per line, plus a summary line."""
    rows = [HEADER] + [_row(catalog, r) for r in catalog.routes]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    providers = len({r.provider for r in catalog.routes})
    default = catalog.default_tier or "none"
    lines.append(
        f"{len(catalog.routes)} routes from {providers} providers; "
        f"tiers {' < '.join(catalog.tiers)} (default {default}); "
        "prices in USD per million tokens"
    )
    lines.append(
        "family from: `rule` derived from the model id (SPEC §5.8), `router` a router of "
        "unknown model (family `unknown`), `overlay` set by the overlay"
    )
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.node_config, args.overlay)
    if args.json:
        print(json.dumps(catalog_value(catalog), indent=2, sort_keys=True, ensure_ascii=False))
    else:
        print(render_table(catalog))
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `catalog show NODE_CONFIG [--overlay FILE] [--json]`."""
    parser = subparsers.add_parser(
        "catalog",
        help="inspect the validator catalog",
        **teach(
            "The catalog is what the node's GenVM LLM config offers (providers, models, "
            "capabilities, greybox priorities) plus the facts of an overlay (prices, context "
            "windows, tiers).",
            "genvm-policy catalog show /opt/genlayer-node --overlay facts.yaml",
        ),
    )
    group = parser.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    show = group.add_parser(
        "show",
        help="print the routes as a table",
        **teach(
            "Print the catalog's routes, one a line: provider, model, capabilities, greybox "
            "positions, tier, prices, context, and each route's model family with where the "
            "family came from: `rule` (derived from the model id, SPEC §5.8), `router` (a "
            "router of unknown model, family `unknown`) or `overlay`; or, with --json, the "
            "canonical catalog value.",
            "genvm-policy catalog show /opt/genlayer-node --overlay facts.yaml",
            "genvm-policy catalog show NODE/config/genvm-module-llm.yaml --json",
        ),
    )
    add_inputs(show)
    show.add_argument(
        "--json", action="store_true", help="print the canonical catalog value as JSON"
    )
    show.set_defaults(handler=_show)
