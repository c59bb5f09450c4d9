"""`genvm-policy init`: write a starter policy unique to this validator.

Spec: docs/SPEC.md §11 (Starter policies). Shell: reads the node config and
overlay, creates the node salt once and reuses it, writes `policy.yaml`.

Rules:
1. The salt is 32 random bytes in a file of mode 0600. It is created
   atomically: written to a private temporary file, then linked into place,
   which fails when the name exists, so a salt is never half written and never
   replaced. A salt file that exists is reused; it must hold 32 bytes (or 64
   lower-case hex digits) and be readable by its owner only.
2. The salt is never printed, logged or put into the policy; the report says
   only where it is and whether it was created.
3. An existing policy file is never overwritten without `--force`; the policy
   is written by the installer's write primitive (`install_fs.atomic_write`:
   the whole buffer, fsync, rename, folder fsync; the old file untouched on
   any error), so a reader sees the old file or the new one. The salt's bytes
   go through the same whole-buffer write.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.initpolicy import Chain, shape_of, starter_chains, starter_policy
from genvm_policy.cli.commands.catalog import NODE_CONFIG_HELP, OVERLAY_HELP, load_catalog
from genvm_policy.cli.commands.helptext import teach
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import policy_identity
from genvm_policy.core.prng import SALT_BYTES
from genvm_policy.operator.install_fs import atomic_write, write_all

__all__ = ["POLICY_NAME", "SALT_NAME", "read_salt", "register", "salt_once"]

POLICY_NAME = "policy.yaml"
SALT_NAME = "salt"
_HEX = re.compile(rb"[0-9a-f]{64}\n?")


def _io(path: Path, err: OSError, doing: str) -> PolicyError:
    return PolicyError("INIT_IO", (), f"cannot {doing} `{path}`: {err.strerror or err}")


def read_salt(path: Path) -> bytes:
    """The salt in `path` (rule 1): 32 raw bytes or 64 lower-case hex digits."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as err:
        raise _io(path, err, "read the salt file") from None
    if stat.S_IMODE(mode) & 0o077:
        raise PolicyError(
            "INIT_SALT_MODE",
            (),
            f"the salt file `{path}` can be read by others (mode {stat.S_IMODE(mode):04o})",
            f"make it private: chmod 600 {path}",
        )
    if _HEX.fullmatch(data):
        return bytes.fromhex(data[:64].decode("ascii"))
    if len(data) != SALT_BYTES:
        raise PolicyError(
            "HOOK_SALT",
            (),
            f"the salt file `{path}` holds {len(data)} bytes, not a 32-byte salt",
            "move it away to make a new salt, or restore the node's own salt",
        )
    return data


def salt_once(path: Path) -> tuple[bytes, bool]:
    """The node salt at `path`, made now if absent (rule 1); also whether it was made."""
    if path.exists():
        return read_salt(path), False
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    salt = secrets.token_bytes(SALT_BYTES)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            write_all(fd, salt)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            # Another run made the salt first: that one is the node's salt.
            return read_salt(path), False
    except OSError as err:
        raise _io(path, err, "create the salt file") from None
    finally:
        temp.unlink(missing_ok=True)
    return salt, True


def _write_policy(path: Path, text: str) -> None:
    try:
        atomic_write(path, text.encode("utf-8"), 0o644, path.name, None)
    except PolicyError as err:
        raise PolicyError("INIT_IO", (), err.message, err.hint) from None


def _summary(which: str, chain: Chain) -> str:
    """One chain in a few words: how many routes, whose, and what was left out."""
    if not chain.routes:
        return f"no {which} chain"
    whose = "of the node's chain" if chain.vetted else "(the node has no chain: all)"
    text = f"{which} {len(chain.routes)} routes {whose}"
    if chain.left_out:
        text += f", {len(chain.left_out)} left out"
    if chain.unchained:
        text += f", {chain.unchained} of them outside it"
    return text


def _node(args: argparse.Namespace) -> str:
    """NODE, given as the argument or as `--node-config` (the older spelling), not both."""
    if (args.node is None) == (args.node_config is None):
        raise PolicyError(
            "CLI_USAGE",
            ("NODE",),
            "give the node once: `genvm-policy init NODE` (or `--node-config NODE`)",
            "NODE is the node root (e.g. /opt/genlayer-node), a version folder, a GenVM tree "
            "or its genvm-module-llm.yaml",
        )
    node: str = args.node if args.node is not None else args.node_config
    return node


def _init(args: argparse.Namespace) -> int:
    node = _node(args)
    catalog = load_catalog(node, args.overlay)
    out = Path(args.output)
    target = out / POLICY_NAME
    if target.exists() and not args.force:
        raise PolicyError(
            "INIT_EXISTS",
            (),
            f"`{target}` already exists",
            "edit it, or pass --force to replace it with a fresh starter policy",
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _io(out, err, "create the folder") from None
    salt_path = Path(args.salt) if args.salt else out / SALT_NAME
    salt, made = salt_once(salt_path)
    document, text = starter_policy(
        catalog, salt, include_unchained=args.include_unchained, text_filters=args.text_filters
    )
    identity = policy_identity(admit(document, catalog))
    _write_policy(target, text)
    state = "created (32 random bytes, mode 0600)" if made else "reused"
    print(f"salt    {salt_path}  {state}; keep it secret and keep it: it makes the policy yours")
    print(f"policy  {target}  {identity}")
    chains = starter_chains(catalog, salt, include_unchained=args.include_unchained)
    print(
        f"chains  {_summary('text', chains[0])}; {_summary('image', chains[1])}; "
        f"shape {shape_of(salt)}, max_attempts {document['max_attempts']}"
    )
    if any(c.left_out for c in chains):
        print(
            "        routes left out have no greybox position for the class; "
            "--include-unchained adds them after the chain"
        )
    if args.text_filters:
        recipe = ", ".join(document["mutate"][0]["text_filters"])
        print(
            f"texts   filtered with {recipe}: template variables reach the model "
            "unlike the stock script's (see the policy's comments)"
        )
    else:
        print("texts   as the stock script sends them (--text-filters opts in to filters)")
    print("next    review the comments in the policy, then preview it:")
    overlay = f" --overlay {args.overlay}" if args.overlay else ""
    print(f"        genvm-policy explain --catalog {node}{overlay} --policy {target}")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `init NODE [--overlay FILE] [-o DIR] [--salt FILE] [--force] [--include-unchained]
    [--text-filters]`."""
    parser = subparsers.add_parser(
        "init",
        help="write a starter policy unique to this validator",
        **teach(
            "Write DIR/policy.yaml: a commented starter policy for this node's catalog whose "
            "choices are drawn from the node's secret salt (DIR/salt, created once, mode 0600, "
            "never printed). The same salt gives the same policy; another node's salt gives "
            "another. Where the node config has a greybox chain for a class, only its routes "
            "are used, and the file says how the drawn order departs from the node's. Only "
            "routing, sampling and failure handling differ from the stock script: the model "
            "reads the texts stock sends unless --text-filters is given.",
            "genvm-policy init /opt/genlayer-node -o ~/genvm-policy",
            "genvm-policy init /opt/genlayer-node --overlay facts.yaml -o ~/genvm-policy",
        ),
    )
    parser.add_argument("node", nargs="?", metavar="NODE", help=NODE_CONFIG_HELP)
    parser.add_argument(
        "--node-config", metavar="NODE", help="the same as NODE (the older spelling)"
    )
    parser.add_argument("--overlay", metavar="FILE", help=OVERLAY_HELP)
    parser.add_argument("-o", "--output", default=".", metavar="DIR", help="folder (default .)")
    parser.add_argument(
        "--salt", metavar="FILE", help=f"the node salt (default DIR/{SALT_NAME}; made if absent)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing policy.yaml")
    parser.add_argument(
        "--include-unchained",
        action="store_true",
        help="also list, after the node's greybox chain of a class, the routes it does not name "
        "(by default a class with a chain uses only the routes its operator vetted)",
    )
    parser.add_argument(
        "--text-filters",
        action="store_true",
        help="also draw a text-filter recipe from the salt; the hook then runs it on the "
        "contract's texts, template variables included, so the model reads text that differs "
        "from the stock script's (by default none: exactly the stock text)",
    )
    parser.set_defaults(handler=_init)
