"""`genvm-policy install|revert|status`: put a policy and the hook on a node, or take them off.

Spec: docs/INSTALL.md (the installer library) and docs/OPERATOR.md ("Installing",
"Status, revert and reload"). Shell: reads the node's LLM config, the overlay, the
policy and the salt; writes through `genvm_policy.install`. `integrate.sh` runs
these with `--node-root PATH` first.

Rules:
1. Install reports each step: the tree found, the catalog loaded from the tree's
   active LLM config (plus `--overlay`), the policy admitted and compiled, the
   salt taken (`--salt`, default `salt` beside the policy), the bundle built with
   the absolute paths the tree will hold, then the installer's own steps.
2. The bundle is the hook (0644), the compiled policy (0644) and the salt (0600);
   its metadata names the policy, catalog, GenVM-view and compiled identities and
   the hook version. The salt is never printed.
3. Before anything is written, every request class must have a route on the
   node's catalog and every decision must bind (`check.prove_routes`, SPEC
   §9.4): a class the policy empties is `POL_UNROUTABLE` unless
   `--allow-unroutable CLASS` accepts it, recorded in the manifest's metadata
   as `unroutable_accepted`.
4. Verification runs on the installed files before the switch
   (`genvm_policy.installcheck.verify_all`): sample calls through the installed
   hook, then the golden vectors and the policy's own vectors replayed against
   the runtime bundled in it, in `lupa`'s Lua 5.3 and in the stand-alone
   `lua5.3` when present, each step reported with its counts. Any failure is
   `INSTALL_VERIFY`, and the installer undoes the run.
5. After a switch the reload step for the line is printed, or performed with
   `--reload [URL]`.
6. Status adds drift: whether the node's current catalog and GenVM view still
   have the identities recorded at install.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from genvm_policy import __version__
from genvm_policy.bundle import build_hook
from genvm_policy.catalog import catalog_identity, view_identity
from genvm_policy.commands.catalog import OVERLAY_HELP, load_catalog
from genvm_policy.commands.check import (
    POLICY_HELP,
    add_allow_unroutable,
    load_policy,
    prove_routes,
)
from genvm_policy.commands.helptext import teach
from genvm_policy.commands.init import SALT_NAME, read_salt
from genvm_policy.compile import compile_policy, read_compiled
from genvm_policy.errors import PolicyError
from genvm_policy.install import SALT_RELPATH, STATE_DIR, Bundle, apply, plan_install, revert
from genvm_policy.install_status import status
from genvm_policy.installcheck import SAMPLES, verify_all, verify_installed
from genvm_policy.nodetree import GenvmTree, find_tree
from genvm_policy.reload import DEFAULT_MANAGER_URL, reload, reload_instructions

__all__ = ["POLICY_RELPATH", "SAMPLES", "register", "verify_installed"]

POLICY_RELPATH = f"{STATE_DIR}/policy.lua"
"""Where the compiled policy goes in the GenVM tree (docs/HOOK.md §2)."""


def _say(text: str) -> None:
    print(text, flush=True)


def _salt_path(args: argparse.Namespace) -> Path:
    if args.salt:
        return Path(args.salt)
    return Path(args.policy).parent / SALT_NAME


def _install(args: argparse.Namespace) -> int:
    _say("== 1. find the GenVM tree")
    tree = find_tree(Path(args.node_root), args.version_dir)
    for line in tree.describe():
        _say(f"   {line}")
    _say(
        f"== 2. load the node's catalog from `{tree.config}`"
        + (f" + `{args.overlay}`" if args.overlay else "")
    )
    catalog = load_catalog(str(tree.config), args.overlay)
    _say(f"   {len(catalog.routes)} routes; catalog {catalog_identity(catalog)}")
    _say(f"   GenVM view {view_identity(catalog)}")
    _say(f"== 3. admit and compile `{args.policy}`")
    policy = load_policy(args.policy, catalog)
    data = compile_policy(catalog, policy)
    compiled = read_compiled(data)
    _say(f"   policy {compiled.policy_id}; compiled {compiled.identity}")
    _say("   every request class on this catalog (SPEC §9.4):")
    accepted = prove_routes(
        catalog, policy, args.allow_unroutable, lambda line: _say("     " + line)
    )
    salt_path = _salt_path(args)
    _say(f"== 4. take the node salt from `{salt_path}` (never shown)")
    if not salt_path.exists():
        raise PolicyError(
            "INSTALL_SALT",
            ("--salt",),
            f"there is no salt file `{salt_path}`",
            "run `genvm-policy init` to create the node's salt, or pass --salt FILE",
        )
    salt = read_salt(salt_path)
    _say("== 5. build the hook bundle")
    hook = build_hook(str(tree.root / POLICY_RELPATH), str(tree.root / SALT_RELPATH))
    bundle = Bundle(
        {
            tree.hook_relpath: (hook, 0o644),
            POLICY_RELPATH: (data, 0o644),
            SALT_RELPATH: (salt, 0o600),
        },
        tree.hook_relpath,
        {
            "hook_version": __version__,
            "policy_identity": compiled.policy_id,
            "catalog_identity": compiled.catalog_id,
            "genvm_view_identity": compiled.view_id,
            "compiled_identity": compiled.identity,
            "unroutable_accepted": accepted,
        },
    )

    def verify(root: Path) -> None:
        verify_all(root / tree.hook_relpath, catalog, policy, salt, lambda line: _say("   " + line))

    _say("== 6. install (backup, write, verify, switch)")
    plan = plan_install(tree, bundle)
    if not plan.steps:
        _say("   install: nothing to change (this policy is installed already)")
        return 0
    if args.dry_run:
        _say("   install (dry run: these changes would be made, none is):")
        for step in plan.steps:
            _say(f"     {step.text}")
        return 0
    apply(plan, verify=verify, out=sys.stdout)
    _say("   install: done")
    if any(s.kind == "switch" for s in plan.steps):
        _reload_step(tree, args)
    return 0


def _reload_step(tree: GenvmTree, args: argparse.Namespace) -> None:
    _say("== 7. reload")
    if args.reload is None:
        hint = reload_instructions(tree.line)
        _say(f"   GenVM reads the script only when it builds its Lua VMs. {hint}")
        return
    answer = reload(args.reload, tree.line, allow_remote=args.allow_remote)
    _say(f"   the GenVM manager answered: {answer}")


def _revert(args: argparse.Namespace) -> int:
    # The library reports every step and, after switching back, the reload step.
    revert(Path(args.node_root), version_dir=args.version_dir, dry_run=args.dry_run)
    return 0


def _status(args: argparse.Namespace) -> int:
    report = status(Path(args.node_root), args.version_dir)
    for line in report.lines():
        _say(line)
    if report.state == "not installed":
        return 0
    catalog = load_catalog(str(report.tree.config), args.overlay)
    recorded = report.metadata
    now = {
        "catalog_identity": catalog_identity(catalog),
        "genvm_view_identity": view_identity(catalog),
    }
    for key, value in now.items():
        same = recorded.get(key) == value
        what = key.replace("_identity", "").replace("_", "-")
        _say(f"drift: {what} {'unchanged' if same else 'CHANGED since the install: ' + value}")
    if recorded.get("catalog_identity") != now["catalog_identity"] and args.overlay is None:
        _say("note: the catalog at install may have used an overlay; pass --overlay to compare it")
    return 0 if report.intact else 1


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node-root", required=True, metavar="PATH",
        help="a node root, one of its version folders, a GenVM tree or its LLM config file",
    )  # fmt: skip
    parser.add_argument("--version-dir", metavar="NAME", help="the version folder to use")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `install`, `revert` and `status`."""
    p = subparsers.add_parser(
        "install",
        help="install a policy and the hook onto a node's GenVM tree",
        **teach(
            "Compile POLICY against the node's own catalog, copy the hook, the compiled policy "
            "and the salt into the GenVM tree, verify them (sample calls, golden and policy "
            "vectors in Lua 5.3), then switch lua_script_path (docs/INSTALL.md).",
            "genvm-policy install --node-root /opt/genlayer-node --policy policy.yaml --dry-run",
            "genvm-policy install --node-root /opt/genlayer-node --policy policy.yaml --reload",
        ),
    )
    _common(p)
    p.add_argument("--policy", required=True, metavar="FILE", help=POLICY_HELP)
    p.add_argument("--overlay", metavar="FILE", help=OVERLAY_HELP)
    p.add_argument(
        "--salt", metavar="FILE", help="the node salt (default: `salt` beside the policy)"
    )
    add_allow_unroutable(p)
    p.add_argument("--dry-run", action="store_true", help="show every change without making it")
    p.add_argument(
        "--reload", nargs="?", const=DEFAULT_MANAGER_URL, metavar="URL",
        help=f"restart the LLM module through the GenVM manager (default {DEFAULT_MANAGER_URL})",
    )  # fmt: skip
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback manager URL")
    p.set_defaults(handler=_install)

    p = subparsers.add_parser(
        "revert",
        help="restore the GenVM tree as it was before the first install",
        **teach(
            "Put lua_script_path and every replaced file back and remove what the installer "
            "added (docs/INSTALL.md §7): the tree is as it was before the first install.",
            "genvm-policy revert --node-root /opt/genlayer-node --dry-run",
            "genvm-policy revert --node-root /opt/genlayer-node",
        ),
    )
    _common(p)
    p.add_argument("--dry-run", action="store_true", help="show every change without making it")
    p.set_defaults(handler=_revert)

    p = subparsers.add_parser(
        "status",
        help="report what is installed on a node, and drift",
        **teach(
            "Report the GenVM tree, the installed hook and policy, whether the files are "
            "intact and whether the node's catalog drifted since the install. Exit 1 when an "
            "installed file is missing or changed.",
            "genvm-policy status --node-root /opt/genlayer-node",
            "genvm-policy status --node-root /opt/genlayer-node --overlay facts.yaml",
        ),
    )
    _common(p)
    p.add_argument("--overlay", metavar="FILE", help=OVERLAY_HELP)
    p.set_defaults(handler=_status)
