"""`genvm-policy doctor [NODE]`: what this machine has and lacks for a job, and the fix for each.

Shell module: it looks at the interpreter, the Lua engines, the programs on
`PATH`, the node tree and, when asked, the GenVM manager. Spec: docs/OPERATOR.md
("Checking a machine").

Rules:
1. A job names what it needs (`JOBS`): `operate` (the operator's commands),
   `install` (those plus write access to NODE's GenVM tree) and `test` (the
   project's test command: every runtime and the locale sources). Without
   `--job` the job is `install` when NODE is given, else `operate`.
2. Each piece is one line: `ok`, `MISSING` (the job needs it) or `optional`
   (a cross-check the job runs when present), with the one command that adds
   it. Missing Debian packages are added by one `apt-get update && apt-get
   install -y …` line (with `sudo` unless run as root), printed last.
3. `--manager [URL]` adds the GenVM manager to what the job needs: reachable
   when it gives any HTTP answer. Only loopback URLs unless `--allow-remote`,
   as for `install --reload`.
4. Exit 0 when everything the job needs is there, 1 when something is
   missing, 2 on bad input (NODE is not a node, a bad URL).
"""

from __future__ import annotations

import argparse
import os
import platform
import pwd
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genvm_policy.cli.commands.helptext import teach
from genvm_policy.core.errors import PolicyError
from genvm_policy.node.runtimes import VERSIONS, new_state
from genvm_policy.operator.install import STATE_DIR
from genvm_policy.operator.nodetree import LINES, find_tree
from genvm_policy.operator.reload import DEFAULT_MANAGER_URL
from genvm_policy.operator.reload import _check_url as check_manager_url
from genvm_policy.resources import resource

__all__ = ["JOBS", "register"]

# job -> (pieces it needs, pieces it uses when present)
JOBS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "operate": (("python", "files", "lua53", "lua54"), ("lua5.3", "lua5.4")),
    "install": (("python", "files", "lua53", "lua54", "node"), ("lua5.3", "lua5.4")),
    "test": (("python", "files", "lua53", "lua54", "lua5.3", "lua5.4", "locales"), ()),
}

# stand-alone program -> (Debian package, what it is for)
PROGRAMS: dict[str, tuple[str, str]] = {
    "lua5.3": ("lua5.3", "stand-alone Lua 5.3: the independent check of the runtime"),
    "lua5.4": ("lua5.4", "stand-alone Lua 5.4: the runtime unchanged on the next Lua"),
}
LOCALE_SOURCE = Path("/usr/share/i18n/locales/sv_SE")
"""A locale whose collation differs from bytes; the tests compile it with `localedef`."""


@dataclass(frozen=True)
class Piece:
    """One thing a job may need: whether it is there, what was seen, and its fix."""

    name: str
    present: bool
    detail: str
    fix: str | None = None
    package: str | None = None


def _python(_: argparse.Namespace) -> Piece:
    version = platform.python_version()
    ok = sys.version_info >= (3, 11)
    detail = f"Python {version} at {sys.executable} (3.11 or newer; Debian 12 has 3.11)"
    return Piece("python", ok, detail, package="python3")


def _files(_: argparse.Namespace) -> Piece:
    dispatch, vectors = resource("dispatch"), resource("vectors")
    count = len(list(vectors.glob("*.cbor")))
    ok = (dispatch / "genvm-policy-hook.lua").is_file() and count > 0
    detail = f"genvm-policy's Lua runtime in {dispatch}, {count} golden vector files in {vectors}"
    fix = "reinstall genvm-policy: pip install --force-reinstall genvm-policy-*.whl"
    return Piece("files", ok, detail, fix)


def _lupa(version: str) -> Callable[[argparse.Namespace], Piece]:
    def check(_: argparse.Namespace) -> Piece:
        fix = f'{sys.executable} -m pip install --force-reinstall "lupa>=2.2"'
        try:
            new_state(version)
        except Exception as err:
            # lupa missing, built without this engine, or a state that fails its
            # version check: whichever it is, it is what this line reports.
            return Piece(version, False, f"lupa's {VERSIONS[version]}: {err}", fix)
        return Piece(version, True, f"lupa's {VERSIONS[version]}, in GenVM's sandbox", fix)

    return check


def _program(name: str) -> Callable[[argparse.Namespace], Piece]:
    def check(_: argparse.Namespace) -> Piece:
        package, what = PROGRAMS[name]
        found = shutil.which(name)
        detail = f"{what} ({found or 'not on PATH'})"
        return Piece(name, found is not None, detail, package=package)

    return check


def _locales(_: argparse.Namespace) -> Piece:
    ok = shutil.which("localedef") is not None and LOCALE_SOURCE.is_file()
    detail = f"localedef and the locale sources ({LOCALE_SOURCE}), for the collation test"
    return Piece("locales", ok, detail, package="locales")


def _node(args: argparse.Namespace) -> Piece:
    if args.node is None:
        raise PolicyError(
            "CLI_USAGE",
            ("NODE",),
            "the job `install` needs NODE",
            "e.g. `genvm-policy doctor /opt/genlayer-node`",
        )
    tree = find_tree(Path(args.node), args.version_dir)
    places = [tree.root / "config", tree.root / LINES[tree.line][1], tree.root / STATE_DIR]
    blocked = [p for p in places if p.exists() and not os.access(p, os.W_OK)]
    if not blocked:
        return Piece("node", True, f"GenVM tree {tree.root}: writable by this user")
    owner = pwd.getpwuid(blocked[0].stat().st_uid).pw_name
    program = shutil.which("genvm-policy") or "genvm-policy"
    fix = f"sudo -u {owner} {program} install --node-root {args.node} --policy FILE"
    detail = f"GenVM tree {tree.root}: {blocked[0]} is not writable by this user (owner {owner})"
    return Piece("node", False, detail, fix)


def _manager(args: argparse.Namespace) -> Piece:
    base = check_manager_url(args.manager, args.allow_remote)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    fix = "start the node (e.g. sudo systemctl start genlayer-node), or pass its URL to --manager"
    try:
        with opener.open(base + "/", timeout=5) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as err:
        status = int(err.code)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        return Piece("manager", False, f"GenVM manager {base}: no answer ({reason})", fix)
    return Piece("manager", True, f"GenVM manager {base}: answers (HTTP {status})", fix)


CHECKS: dict[str, Callable[[argparse.Namespace], Piece]] = {
    "python": _python,
    "files": _files,
    "lua53": _lupa("lua53"),
    "lua54": _lupa("lua54"),
    "lua5.3": _program("lua5.3"),
    "lua5.4": _program("lua5.4"),
    "locales": _locales,
    "node": _node,
    "manager": _manager,
}


def apt_line(packages: list[str]) -> str:
    """The one command that installs Debian `packages`, with `sudo` unless run as root."""
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get update && {sudo}apt-get install -y {' '.join(packages)}"


def _doctor(args: argparse.Namespace) -> int:
    job = args.job or ("install" if args.node is not None else "operate")
    needed, optional = JOBS[job]
    if args.manager is not None:
        needed = (*needed, "manager")
    user = pwd.getpwuid(os.geteuid()).pw_name
    print(f"genvm-policy doctor: the job `{job}` on this machine (user {user})")
    missing: list[Piece] = []
    packages: list[str] = []
    for name in (*needed, *optional):
        piece = CHECKS[name](args)
        required = name in needed
        if piece.present:
            print(f"  ok        {piece.detail}")
            continue
        fix = piece.fix if piece.package is None else apt_line([piece.package])
        mark = "MISSING " if required else "optional"
        print(f"  {mark}  {piece.detail}")
        advice = f"fix: {fix}" if required else f"not installed: `{fix}` adds this cross-check"
        print(f"            {advice}")
        if required:
            missing.append(piece)
        if piece.package is not None:
            packages.append(piece.package)
    if packages:
        print(f"to add every missing package: {apt_line(packages)}")
    if missing:
        names = ", ".join(p.name for p in missing)
        print(f"doctor: the job `{job}` lacks {names}")
        return 1
    print(f"doctor: everything the job `{job}` needs is here")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `doctor [NODE] [--job JOB] [--version-dir NAME] [--manager [URL]] [--allow-remote]`."""
    parser = subparsers.add_parser(
        "doctor",
        help="what this machine and node lack for a job, with the command that fixes each",
        **teach(
            "Check what a job needs on this machine (Python, lupa's Lua 5.3 and 5.4, the "
            "stand-alone interpreters, locales, write access to the node's GenVM tree, the "
            "GenVM manager when asked) and print, for each missing piece, the one command "
            "that adds it. Exit 0 when everything the job needs is here, 1 when something "
            "is missing, 2 on bad input.",
            "genvm-policy doctor /opt/genlayer-node --manager",
            "genvm-policy doctor --job test",
        ),
    )
    parser.add_argument(
        "node",
        nargs="?",
        metavar="NODE",
        help="the node root (e.g. /opt/genlayer-node), a version folder or a GenVM tree",
    )
    parser.add_argument(
        "--job",
        choices=sorted(JOBS),
        help="operate (the operator's commands), install (also NODE writable), test (the "
        "project's tests); default install with NODE, else operate",
    )
    parser.add_argument("--version-dir", metavar="NAME", help="the version folder to use")
    parser.add_argument(
        "--manager",
        nargs="?",
        const=DEFAULT_MANAGER_URL,
        metavar="URL",
        help=f"also check that the GenVM manager answers (default {DEFAULT_MANAGER_URL})",
    )
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback URL")
    parser.set_defaults(handler=_doctor)
