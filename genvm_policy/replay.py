"""Replay what a node decided: find the hook's decision records in GenVM's log, recompute each.

Spec: docs/OPERATOR.md ("Replaying a node's decisions"); the record is docs/HOOK.md §8,
recomputed by `genvm_policy.hookmodel.check_record`.

Rules:
1. GenVM's LLM module writes one JSON object per log line. `__dflt.log_json(t)`
   takes `level` and `message` out of `t` and logs `message` as
   `script_log: <message>`; the newer line puts the remaining fields under the
   key `log`. A line whose fields sit at the top level (an older logger, or a
   log shipper that flattened them) is read the same way.
2. GenVM's logger writes a text value that starts with `$` with one more `$`
   in front (its own values such as `$Bytes(…)` start with one); `unescape`
   takes that `$` off again, so a record reads back as the hook built it.
3. A line is a decision record when its message is `script_log: ` followed by
   `hookmodel.RECORD_MESSAGE`. Other lines (other modules, the hook's own
   warnings) are skipped; a line with text before its JSON object (a journal
   prefix) is read from its first `{`.
4. Each record is recomputed against the compiled policy and catalog, or, for a
   record of the stock fallback (`mode: stock`), against the stock catalog of
   the node's GenVM view and the named stock policy. A record that lacks a
   field or has one of the wrong shape differs at that field.
5. The verdict of a record is `None` (agreed) or the first differing field.
6. Log lines are untrusted and parsed within bounds: a line of at most
   `MAX_LINE_BYTES`, nesting at most `MAX_DEPTH` deep (checked on the line's
   brackets before it is parsed), numbers of at most `MAX_NUMBER_CHARS`
   characters. A number with a fraction or exponent is kept as an integer
   only when it is one exactly and its exponent is at most `MAX_EXPONENT`;
   otherwise its text is kept. A line that breaks a bound, is not JSON, or is
   not a decision record is skipped and counted under a one-line reason. The
   cost is linear in the log's size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from genvm_policy.catalog import Catalog, genvm_view
from genvm_policy.errors import PolicyError
from genvm_policy.hookmodel import RECORD_MESSAGE, check_record, stock_catalog, stock_policy
from genvm_policy.policy import Policy

__all__ = [
    "LOG_PREFIX",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LINE_BYTES",
    "MAX_NUMBER_CHARS",
    "RECORD_FIELDS",
    "LogRead",
    "Record",
    "Verdict",
    "check",
    "parse_number",
    "read_log",
    "record_from_line",
    "summary",
    "unescape",
]

LOG_PREFIX = "script_log: "
"""What GenVM's `log_json` puts before the script's own message."""

RECORD_FIELDS = (
    "material", "seed", "request", "identities", "unavailable", "drift", "attempts", "outcome",
)  # fmt: skip
"""The fields every decision record must carry, in the order they are checked."""

_LOGGER_KEYS = frozenset({"level", "target", "message", "file", "ts", "genvm_id"})

MAX_LINE_BYTES = 1 << 20
"""A decision record is a few KB; a longer line is not one."""
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 64
MAX_EXPONENT = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class _Bound(ValueError):
    """A log line breaks one of the bounds of rule 6."""


def parse_number(text: str) -> int | str:
    """A JSON number with a fraction or exponent: an integer when exact, else its text.

    GenVM writes Lua floats such as HTTP statuses (`429.0`) this way; replay keeps
    every number exact and never goes through a binary float. The exponent is
    bounded (rule 6), so `1e300000000` costs no more than `1e3`.
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
    """One log line's JSON object within the bounds of rule 6; raises `_Bound` or ValueError."""
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
    """Every decision record in a GenVM log (rules 1–3), parsed within bounds (rule 6)."""
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


@dataclass(frozen=True)
class Record:
    """One decision record found in a log: where it was and its fields."""

    line: int
    fields: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """A record and what replaying it found: `None` when it agreed, else the first field."""

    record: Record
    differs: str | None
    detail: str = ""


def unescape(value: Any) -> Any:
    """`value` with the logger's extra `$` taken off every text that has it (rule 2)."""
    if isinstance(value, str):
        return value[1:] if value.startswith("$$") else value
    if isinstance(value, list):
        return [unescape(v) for v in value]
    if isinstance(value, dict):
        return {k: unescape(v) for k, v in value.items()}
    return value


def record_from_line(entry: object, line: int) -> Record | None:
    """The decision record a decoded log line holds, or None if it holds none (rules 1–3)."""
    if not isinstance(entry, dict) or entry.get("message") != LOG_PREFIX + RECORD_MESSAGE:
        return None
    nested = entry.get("log")
    if isinstance(nested, dict):
        fields = dict(nested)
    else:
        fields = {k: v for k, v in entry.items() if k not in _LOGGER_KEYS}
    return Record(line, unescape(fields))


def _shape(fields: Mapping[str, Any]) -> str | None:
    for name in RECORD_FIELDS:
        if name not in fields:
            return name
    for name in ("material", "identities", "outcome", "request"):
        if not isinstance(fields[name], dict):
            return name
    return None


def check(
    record: Record, catalog: Catalog, policy: Policy, salt: bytes, view_catalog: Catalog
) -> Verdict:
    """Recompute one record (rules 4–5).

    `catalog` and `policy` are the ones the node was installed with; `view_catalog`
    is the catalog built from the node's LLM config, whose GenVM view the stock
    fallback decides over.
    """
    fields = record.fields
    missing = _shape(fields)
    if missing is not None:
        return Verdict(record, missing, "missing or not of the record's shape")
    if fields.get("mode") == "stock":
        cat = stock_catalog(genvm_view(view_catalog))
        name, pol = stock_policy(cat)
        if fields.get("stock") != name:
            return Verdict(record, "stock", f"the node's view gives `{name}`")
        catalog, policy = cat, pol
    try:
        differs = check_record(fields, catalog, policy, salt)
    except PolicyError as err:
        return Verdict(record, "request", err.message)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        # The record is untrusted input: a field of the wrong shape is a difference.
        return Verdict(record, "shape", f"malformed record ({type(err).__name__.lower()})")
    return Verdict(record, differs)


def summary(verdicts: list[Verdict]) -> str:
    """`N agreed, M differed`, naming the first differing field and its log line."""
    differed = [v for v in verdicts if v.differs is not None]
    text = f"{len(verdicts) - len(differed)} agreed, {len(differed)} differed"
    if differed:
        first = differed[0]
        text += (
            f"; first difference: field `{first.differs}` of the record on line {first.record.line}"
        )
    return text
