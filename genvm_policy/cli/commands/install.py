"""`genvm-policy install|revert|status`: put a policy and the hook on a node, or take them off.

Spec: docs/INSTALL.md (the installer library) and docs/OPERATOR.md ("Installing",
"Status, revert and reload"). Shell: reads the node's LLM config, the overlay, the
policy and the salt; writes through `genvm_policy.operator.install`. `integrate.sh` runs
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
   (`genvm_policy.node.installcheck.verify_all`): sample calls through the installed
   hook, then the golden vectors and the policy's own vectors replayed against
   the runtime bundled in it, in `lupa`'s Lua 5.3 and in the stand-alone
   `lua5.3` when present, each step reported with its counts. Any failure is
   `INSTALL_VERIFY`, and the installer undoes the run.
5. Install and revert hold the tree's lock from planning to the end
   (`--wait SECONDS` for a busy one). Whenever a file GenVM reads changed (the
   config, the hook, the compiled policy, the salt) the exact reload step for
   the line is printed, or performed with `--reload [URL]` and confirmed by
   the manager's `GET /status`; when nothing changed, nothing is reloaded.
6. Status adds drift: whether the node's current catalog (built with the
   overlay the manifest records) and GenVM view still have the identities
   recorded at install, and which routes were added, removed or changed; then
   a summary and a `next:` line. Exit 0 when all is as installed, 1 on any
   drift, 2 on an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from genvm_policy import __version__
from genvm_policy.cli.commands.catalog import OVERLAY_HELP, load_catalog
from genvm_policy.cli.commands.check import (
    POLICY_HELP,
    add_allow_unroutable,
    load_policy,
    prove_routes,
)
from genvm_policy.cli.commands.helptext import teach
from genvm_policy.cli.commands.init import SALT_NAME, read_salt
from genvm_policy.core.catalog import catalog_identity, view_identity
from genvm_policy.core.errors import PolicyError
from genvm_policy.node.bundle import build_hook
from genvm_policy.node.compile import compile_policy, read_compiled
from genvm_policy.node.installcheck import SAMPLES, verify_all, verify_installed
from genvm_policy.operator.install import (
    SALT_RELPATH,
    STATE_DIR,
    Bundle,
    Reload,
    apply,
    plan_install,
    reads_genvm,
    reload_step,
    revert,
)
from genvm_policy.operator.install_fs import check_links, sha256_hex
from genvm_policy.operator.install_lock import hold
from genvm_policy.operator.install_status import status_lines
from genvm_policy.operator.nodetree import GenvmTree, find_tree
from genvm_policy.operator.reload import DEFAULT_MANAGER_URL, check_reload, confirm_running, reload

__all__ = ["POLICY_RELPATH", "SAMPLES", "register", "verify_installed"]

POLICY_RELPATH = f"{STATE_DIR}/policy.lua"
"""Where the compiled policy goes in the GenVM tree (docs/HOOK.md §2)."""


def _say(text: str) -> None:
    print(text, flush=True)


def _salt_path(args: argparse.Namespace) -> Path:
    if args.salt:
        return Path(args.salt)
    return Path(args.policy).parent / SALT_NAME


def _reloader(args: argparse.Namespace) -> Reload | None:
    """`--reload [URL]` as the step that restarts the LLM module and confirms it."""
    if args.reload is None:
        return None
    url: str = args.reload

    def run(tree: GenvmTree) -> str:
        answer = reload(url, tree.line, allow_remote=args.allow_remote)
        confirmed = confirm_running(url, allow_remote=args.allow_remote)
        return f"the GenVM manager answered {answer}; {confirmed}"

    return run


def _overlay_record(path: str | None) -> dict[str, str] | None:
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        reason = err.strerror or err
        raise PolicyError("SRC_IO", ("--overlay",), f"cannot read `{path}`: {reason}") from None
    return {"path": str(Path(path).resolve()), "sha256": sha256_hex(data)}


def _install(args: argparse.Namespace) -> int:
    _say("== 1. find the GenVM tree")
    tree = find_tree(Path(args.node_root), args.version_dir)
    for line in tree.describe():
        _say(f"   {line}")
    if args.reload is not None:
        check_reload(args.reload, tree.line, allow_remote=args.allow_remote)
    check_links(tree.root, [STATE_DIR], args.follow_symlinks)
    with hold(tree.root, args.wait, sys.stdout, read_only=args.dry_run):
        return _install_locked(args, tree)


def _install_locked(args: argparse.Namespace, tree: GenvmTree) -> int:
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
        _overlay_record(args.overlay),
    )

    def verify(root: Path) -> None:
        verify_all(root / tree.hook_relpath, catalog, policy, salt, lambda line: _say("   " + line))

    _say("== 6. install (backup, write, verify, switch)")
    plan = plan_install(tree, bundle, follow_symlinks=args.follow_symlinks)
    if not plan.steps:
        _say("   install: nothing to change, so nothing changed (this policy is installed already)")
    elif args.dry_run:
        _say("   install (dry run: these changes would be made, none is):")
        for step in plan.steps:
            _say(f"     {step.text}")
        return 0
    else:
        apply(plan, verify=verify, out=sys.stdout)
        _say("   install: done")
    _say("== 7. reload")
    reload_step(tree, any(reads_genvm(s) for s in plan.steps), _reloader(args), sys.stdout)
    return 0


def _revert(args: argparse.Namespace) -> int:
    # The library holds the lock, reports every step and then the reload step.
    tree = find_tree(Path(args.node_root), args.version_dir)
    if args.reload is not None:
        check_reload(args.reload, tree.line, allow_remote=args.allow_remote)
    revert(
        Path(args.node_root),
        version_dir=args.version_dir,
        dry_run=args.dry_run,
        wait=args.wait,
        follow_symlinks=args.follow_symlinks,
        reload=_reloader(args),
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    tree = find_tree(Path(args.node_root), args.version_dir)
    lines, code = status_lines(
        tree, args.overlay, args.wait, sys.stdout, POLICY_RELPATH, load_catalog
    )
    for line in lines:
        _say(line)
    return code


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node-root",
        required=True,
        metavar="PATH",
        help="a node root, one of its version folders, a GenVM tree or its LLM config file",
    )
    parser.add_argument("--version-dir", metavar="NAME", help="the version folder to use")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"`{text}` is not a number of seconds from 0 to 86400")
    return value


def _wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=0,
        metavar="SECONDS",
        help="when another install, revert or status holds the tree's lock, wait this long "
        "for it (default 0: stop at once, naming the holder's pid and start time)",
    )


def _writes(parser: argparse.ArgumentParser) -> None:
    _wait(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="show every change without making it"
    )
    parser.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="write through a config, script or state folder that is a link leading out of the "
        "GenVM tree (the link is kept); without it such a link is refused",
    )
    parser.add_argument(
        "--reload",
        nargs="?",
        const=DEFAULT_MANAGER_URL,
        metavar="URL",
        help="when a file GenVM reads changed, restart the LLM module through the GenVM manager "
        f"(default {DEFAULT_MANAGER_URL}) and wait for GET /status to show it running",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback manager URL"
    )


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
    _writes(p)
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
    _writes(p)
    p.set_defaults(handler=_revert)

    p = subparsers.add_parser(
        "status",
        help="report what is installed on a node, and drift",
        **teach(
            "Report the GenVM tree, the installed hook and policy, whether the files are "
            "intact and whether the node's catalog drifted since the install (per route, with "
            "the overlay the install recorded), then a summary and a `next:` line. Exit 0 when "
            "all is as installed, 1 on any drift, 2 on an error.",
            "genvm-policy status --node-root /opt/genlayer-node",
            "genvm-policy status --node-root /opt/genlayer-node --wait 30",
        ),
    )
    _common(p)
    _wait(p)
    p.add_argument(
        "--overlay", metavar="FILE", help=OVERLAY_HELP + " (default: the one the install recorded)"
    )
    p.set_defaults(handler=_status)
