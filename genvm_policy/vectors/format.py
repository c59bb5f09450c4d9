"""The vector file format: one canonical CBOR map per kind, checked strictly.

Spec: docs/VECTORS.md ("Files" and "Cases").

Rules:
1. A file is the map `{format: 1, kind, spec, runtimes, count, cases}`; a
   case is `{name, description, valid, input}` plus `output` when `valid` is
   true, or `error: {code, path}` when it is false. No other field exists.
2. `count` equals the number of cases; names are unique in their file and
   follow `NAME`; the cases keep the generator's order.
3. `read_file` rejects the first breach with `VEC_FORMAT` at its path in the
   file, so a runner never replays a file it does not fully understand.
4. `write_file` gives canonical bytes: regenerating gives the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from genvm_policy.core import encoding
from genvm_policy.core.encoding import Value
from genvm_policy.core.errors import Path, PolicyError

__all__ = ["FORMAT", "RUNTIMES", "Case", "VectorFile", "read_file", "write_file"]

FORMAT = 1
"""The version of this file format."""

RUNTIMES = ("python", "lua")
"""The runtime families a kind can declare; every kind runs on `python`."""

NAME = re.compile(r"[a-z0-9][a-z0-9_.+-]{0,95}")
"""A case name: lower-case ASCII, digits and `_ . + -`, at most 96 characters."""

FILE_FIELDS = ("format", "kind", "spec", "runtimes", "count", "cases")
CASE_FIELDS = ("name", "description", "valid", "input")


@dataclass(frozen=True)
class Case:
    """One vector: its stable name, what it shows, its input and the result it expects."""

    name: str
    description: str
    input: Value
    expected: dict[str, Value]

    @property
    def valid(self) -> bool:
        """True when the case expects an output rather than an error."""
        return "output" in self.expected


@dataclass(frozen=True)
class VectorFile:
    """The contents of one vector file."""

    kind: str
    spec: str
    runtimes: tuple[str, ...]
    cases: tuple[Case, ...]


def _bad(path: Path, message: str) -> PolicyError:
    return PolicyError(
        "VEC_FORMAT", path, message, hint="regenerate with `genvm-policy vectors generate`"
    )


def _fields(value: Any, required: tuple[str, ...], path: Path) -> dict[str, Any]:
    """`value` as a map holding every `required` field; unknown fields are refused."""
    if not isinstance(value, dict):
        raise _bad(path, "a map is expected")
    for key in value:
        if key not in required:
            raise _bad((*path, key), f"unknown field `{key}`")
    for key in required:
        if key not in value:
            raise _bad(path, f"the field `{key}` is missing")
    return value


def _case(value: Any, path: Path) -> Case:
    valid = value.get("valid") if isinstance(value, dict) else None
    extra = ("output",) if valid is True else ("error",)
    data = _fields(value, CASE_FIELDS + extra, path)
    if not isinstance(data["valid"], bool):
        raise _bad((*path, "valid"), "`valid` must be true or false")
    if not isinstance(data["name"], str) or not NAME.fullmatch(data["name"]):
        raise _bad((*path, "name"), f"the case name `{data['name']}` breaks the naming rule")
    if not isinstance(data["description"], str) or not data["description"]:
        raise _bad((*path, "description"), "a case needs a description")
    if not valid:
        error = _fields(data["error"], ("code", "path"), (*path, "error"))
        if not isinstance(error["code"], str) or not isinstance(error["path"], list):
            raise _bad((*path, "error"), "an error is `{code: text, path: list}`")
        return Case(data["name"], data["description"], data["input"], {"error": error})
    return Case(data["name"], data["description"], data["input"], {"output": data["output"]})


def read_file(data: bytes, kinds: dict[str, str]) -> VectorFile:
    """Decode and check one vector file (rules 1–3); `kinds` maps each kind to its spec section.

    Raises `VEC_FORMAT`, and the codes of `encoding.decode` for bytes that are
    not canonical CBOR.
    """
    top = _fields(encoding.decode(data), FILE_FIELDS, ())
    if top["format"] != FORMAT or isinstance(top["format"], bool):
        raise _bad(("format",), f"format `{top['format']}` is not {FORMAT}")
    kind = top["kind"]
    if not isinstance(kind, str) or kind not in kinds:
        raise _bad(("kind",), f"`{kind}` is not a vector kind")
    if top["spec"] != kinds[kind]:
        raise _bad(("spec",), f"the kind `{kind}` pins {kinds[kind]}, not `{top['spec']}`")
    runtimes = top["runtimes"]
    if (
        not isinstance(runtimes, list)
        or "python" not in runtimes
        or any(r not in RUNTIMES for r in runtimes)
    ):
        raise _bad(("runtimes",), "`runtimes` must list `python` and may list `lua`")
    cases = top["cases"]
    if not isinstance(cases, list):
        raise _bad(("cases",), "`cases` must be a list")
    if top["count"] != len(cases) or isinstance(top["count"], bool):
        raise _bad(("count",), f"`count` is `{top['count']}` but the file holds {len(cases)} cases")
    seen: set[str] = set()
    parsed = []
    for index, value in enumerate(cases):
        case = _case(value, ("cases", index))
        if case.name in seen:
            raise _bad(("cases", index, "name"), f"the case name `{case.name}` appears twice")
        seen.add(case.name)
        parsed.append(case)
    return VectorFile(kind, kinds[kind], tuple(runtimes), tuple(parsed))


def write_file(file: VectorFile) -> bytes:
    """The canonical bytes of one vector file (rule 4)."""
    cases: list[Value] = []
    for case in file.cases:
        item: dict[str, Value] = {
            "name": case.name,
            "description": case.description,
            "valid": case.valid,
            "input": case.input,
        }
        item.update(case.expected)
        cases.append(item)
    return encoding.encode(
        {
            "format": FORMAT,
            "kind": file.kind,
            "spec": file.spec,
            "runtimes": list(file.runtimes),
            "count": len(cases),
            "cases": cases,
        }
    )
