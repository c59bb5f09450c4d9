"""`genvm-policy replay`: recompute every decision a node logged and report agreement.

Spec: docs/OPERATOR.md ("Replaying a node's decisions"); `genvm_policy.replay`
finds and checks the records. Shell: reads the log, the node config, the
overlay, the policy and the salt. Prints one line per record, then
`N agreed, M differed`; exit 1 when any record differs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from genvm_policy.commands.catalog import (
    NODE_CONFIG_HELP,
    OVERLAY_HELP,
    load_catalog,
    node_config_path,
)
from genvm_policy.commands.check import POLICY_HELP, load_policy
from genvm_policy.commands.helptext import teach
from genvm_policy.commands.init import read_salt
from genvm_policy.errors import PolicyError
from genvm_policy.replay import Record, Verdict, check, record_from_line, summary

__all__ = ["parse_number", "read_records", "register"]


def parse_number(text: str) -> int | str:
    """A JSON number with a fraction or exponent: an integer when exact, else its text.

    GenVM writes Lua floats such as HTTP statuses (`429.0`) this way; replay keeps
    every number exact and never goes through a binary float.
    """
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    shift = int(exponent or "0")
    digits = whole + fraction
    point = len(whole) + shift
    digits += "0" * max(point - len(digits), 0)
    if point < 0 or digits[point:].strip("0"):
        return text
    return int(digits[:point] or "0")


def read_records(path: str) -> list[Record]:
    """Every decision record in the log file `path` (one JSON object per line)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise PolicyError(
            "SRC_IO", (), f"cannot read the log `{path}`: {err.strerror or err}"
        ) from None
    records = []
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        start = raw.find("{")
        if start < 0:
            continue
        try:
            entry = json.loads(raw[start:], parse_float=parse_number)
        except ValueError:
            continue
        record = record_from_line(entry, number)
        if record is not None:
            records.append(record)
    return records


def _line(verdict: Verdict) -> str:
    fields: dict[str, Any] = verdict.record.fields
    material = fields.get("material") if isinstance(fields.get("material"), dict) else {}
    assert isinstance(material, dict)
    where = f"line {verdict.record.line}: tx {material.get('tx_id')}, call {material.get('call')}"
    outcome = fields.get("outcome")
    kind = outcome.get("kind") if isinstance(outcome, dict) else None
    if verdict.differs is None:
        return f"agreed    {where}, {fields.get('mode', 'policy')}, outcome {kind}"
    detail = f" ({verdict.detail})" if verdict.detail else ""
    return f"DIFFERED  {where}: field `{verdict.differs}`{detail}"


def _replay(args: argparse.Namespace) -> int:
    records = read_records(args.log)
    if not records:
        raise PolicyError(
            "REPLAY_EMPTY",
            (),
            f"the log `{args.log}` holds no genvm-policy decision record",
            "give GenVM's LLM module log (JSON lines) from a node running the hook",
        )
    node_config = node_config_path(args.node_config)
    catalog = load_catalog(node_config, args.overlay)
    view_catalog = load_catalog(node_config)
    policy = load_policy(args.policy, catalog)
    salt_path = Path(args.salt) if args.salt else Path(args.policy).parent / "salt"
    salt = read_salt(salt_path)
    verdicts = [check(r, catalog, policy, salt, view_catalog) for r in records]
    for verdict in verdicts:
        print(_line(verdict))
    print(summary(verdicts))
    return 1 if any(v.differs is not None for v in verdicts) else 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `replay LOG --node-config FILE [--overlay FILE] --policy FILE [--salt FILE]`."""
    parser = subparsers.add_parser(
        "replay",
        help="recompute the decisions a node logged and report any difference",
        **teach(
            "Read the hook's decision records from GenVM's LLM module log, recompute each one "
            "with the reference, and print per-record agreement and `N agreed, M differed`. "
            "Exit 1 when any record differs.",
            "genvm-policy replay genvm.log --node-config /opt/genlayer-node --policy policy.yaml",
        ),
    )
    parser.add_argument("log", metavar="LOG", help="GenVM's LLM module log (JSON lines)")
    parser.add_argument("--node-config", required=True, metavar="NODE", help=NODE_CONFIG_HELP)
    parser.add_argument("--overlay", metavar="FILE", help=OVERLAY_HELP)
    parser.add_argument("--policy", required=True, metavar="FILE", help=POLICY_HELP)
    parser.add_argument(
        "--salt", metavar="FILE", help="the node's salt (default: `salt` beside the policy)"
    )
    parser.set_defaults(handler=_replay)
