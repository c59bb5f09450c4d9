"""`genvm-policy replay`: recompute every decision a node logged and report agreement.

Spec: docs/OPERATOR.md ("Replaying a node's decisions"); `genvm_policy.node.replay`
finds and checks the records. Shell: reads the log, the node config, the
overlay, the policy and the salt. Prints one line per record, then
`N agreed, M differed`; exit 1 when any record differs.

Rules (docs/OPERATOR.md, "Bounds"):
1. Log lines are untrusted and parsed within bounds: a line of at most
   `MAX_LINE_BYTES`, nesting at most `MAX_DEPTH` deep (checked on the line's
   brackets before it is parsed), numbers of at most `MAX_NUMBER_CHARS`
   characters. A number with a fraction or exponent is kept as an integer
   only when it is one exactly and its exponent is at most `MAX_EXPONENT`;
   otherwise its text is kept. A line that breaks a bound, is not JSON, or is
   not a decision record is skipped and counted under a one-line reason. The
   cost is linear in the log's size.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from genvm_policy.cli.commands.catalog import (
    NODE_CONFIG_HELP,
    OVERLAY_HELP,
    load_catalog,
    node_config_path,
)
from genvm_policy.cli.commands.check import POLICY_HELP, load_policy
from genvm_policy.cli.commands.helptext import teach
from genvm_policy.cli.commands.init import read_salt
from genvm_policy.core.errors import PolicyError
from genvm_policy.node.replay import Record, Verdict, check, record_from_line, summary

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LINE_BYTES",
    "MAX_NUMBER_CHARS",
    "LogRead",
    "parse_number",
    "read_log",
    "read_records",
    "register",
]

MAX_LINE_BYTES = 1 << 20
"""A decision record is a few KB; a longer line is not one."""
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 64
MAX_EXPONENT = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class _Bound(ValueError):
    """A log line breaks one of the bounds of rule 1."""


def parse_number(text: str) -> int | str:
    """A JSON number with a fraction or exponent: an integer when exact, else its text.

    GenVM writes Lua floats such as HTTP statuses (`429.0`) this way; replay keeps
    every number exact and never goes through a binary float. The exponent is
    bounded (rule 1), so `1e300000000` costs no more than `1e3`.
    """
    if len(text) > MAX_NUMBER_CHARS:
        raise _Bound(f"a number longer than {MAX_NUMBER_CHARS} characters")
    mantissa, _, exponent = text.lower().partition("e")
    shift = int(exponent or "0")
    if abs(shift) > MAX_EXPONENT:
        return text
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + shift
    digits += "0" * max(point - len(digits), 0)
    if point < 0 or digits[point:].strip("0"):
        return text
    return int(digits[:point] or "0")


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Bound(f"a number longer than {MAX_NUMBER_CHARS} characters")
    return int(text)


def _refuse_constant(name: str) -> None:
    raise _Bound(f"`{name}`, which is not JSON")


def _depth(text: str) -> int:
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(_STEP[c] for c in skeleton), default=0)


def _entry(raw: str) -> object:
    """One log line's JSON object within the bounds of rule 1; raises `_Bound` or ValueError."""
    if _depth(raw) > MAX_DEPTH:
        raise _Bound(f"nested deeper than {MAX_DEPTH}")
    return json.loads(
        raw, parse_float=parse_number, parse_int=_parse_int, parse_constant=_refuse_constant
    )


@dataclass
class LogRead:
    """What `read_log` found: the records, and the skipped lines by reason."""

    records: list[Record] = field(default_factory=list)
    skipped: dict[str, list[int]] = field(default_factory=dict)

    def skip(self, reason: str, line: int) -> None:
        """Count line `line` as skipped for `reason`."""
        self.skipped.setdefault(reason, []).append(line)

    def skip_lines(self) -> list[str]:
        """One line per reason: how many lines, and the first of them."""
        return [
            f"skipped {len(lines)} line(s) (first: line {lines[0]}): {reason}"
            for reason, lines in self.skipped.items()
        ]


def read_log(data: bytes) -> LogRead:
    """Every decision record in a GenVM log (`replay` rules 1–3), parsed within bounds (rule 1)."""
    found = LogRead()
    for number, raw_bytes in enumerate(data.splitlines(), start=1):
        if len(raw_bytes) > MAX_LINE_BYTES:
            found.skip(f"longer than {MAX_LINE_BYTES} bytes", number)
            continue
        raw = raw_bytes.decode("utf-8", "replace")
        start = raw.find("{")
        if start < 0:
            if raw.strip():
                found.skip("no JSON object on the line", number)
            continue
        try:
            entry = _entry(raw[start:])
        except _Bound as err:
            found.skip(str(err), number)
            continue
        except (ValueError, RecursionError):
            found.skip("not well-formed JSON", number)
            continue
        record = record_from_line(entry, number)
        if record is None:
            found.skip("not a decision record (another log line)", number)
        else:
            found.records.append(record)
    return found


def read_records(path: str) -> LogRead:
    """Every decision record in the log file `path`, and the lines skipped (one JSON per line)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise PolicyError(
            "SRC_IO", (), f"cannot read the log `{path}`: {err.strerror or err}"
        ) from None
    return read_log(data)


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
    found = read_records(args.log)
    for line in found.skip_lines():
        print(line)
    records = found.records
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
