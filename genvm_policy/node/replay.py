"""Replay what a node decided: find the hook's decision records in GenVM's log, recompute each.

Spec: docs/OPERATOR.md ("Replaying a node's decisions"); the record is docs/HOOK.md §8,
recomputed by `genvm_policy.node.hookmodel.check_record`.

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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genvm_policy.core.catalog import Catalog, genvm_view
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import Policy
from genvm_policy.node.hookmodel import RECORD_MESSAGE, check_record, stock_catalog, stock_policy

__all__ = [
    "LOG_PREFIX",
    "RECORD_FIELDS",
    "Record",
    "Verdict",
    "check",
    "record_from_line",
    "summary",
    "unescape",
]

LOG_PREFIX = "script_log: "
"""What GenVM's `log_json` puts before the script's own message."""

RECORD_FIELDS = (
    "material", "seed", "request", "identities", "unavailable", "drift", "attempts", "outcome",
)  # fmt: skip  # a table laid out by hand in rows
"""The fields every decision record must carry, in the order they are checked."""

_LOGGER_KEYS = frozenset({"level", "target", "message", "file", "ts", "genvm_id"})


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
