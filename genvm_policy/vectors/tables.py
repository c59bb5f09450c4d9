"""The shared tables, written once from the reference: the Lua runtime's copy and the spec's.

Spec: docs/SPEC.md (each table's own section); docs/VECTORS.md ("Commands").
The reference's literal tables (the op grammar, fields, parameters, limits,
failure classes, statuses, request facts, text filters, error codes, and the
cost of each op in the spec) are the only source. `lua_source()` is
`dispatch/genvm_policy/tables.lua`, which the Lua modules read instead of
keeping copies; `spec_text(old)` is docs/SPEC.md
with every generated region rewritten. The CLI (`genvm-policy vectors tables`)
writes both; a test regenerates them and compares bytes.

Rules:
1. Each part of `tables.lua` is named after the Python module that owns its
   tables (`policy`, `cascade`, …) and is read by the Lua module of that stem.
   Containers keep their Python shape: a tuple is an array in its order, a
   dict a map; a Lua module that wants a set builds it. `OPS` keeps each op's
   sort and argument kinds, the part the Lua runtime checks.
2. A spec region lies between `<!-- tables:NAME ... -->` and
   `<!-- /tables:NAME -->` lines; only the lines between them are replaced, so
   the prose around a table stays the author's. A region named in the spec but
   unknown here, or a known one missing from the spec, is an error.
3. The output is a pure function of the tables: the same bytes on every run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from genvm_policy.authoring import builtin, cost
from genvm_policy.core import (
    cascade,
    catalog,
    encoding,
    errors,
    family,
    identity,
    mutate,
    numeric,
    policy,
    prng,
    request,
)

__all__ = ["LUA_PATH", "REGIONS", "SPEC_PATH", "Parts", "lua_source", "render", "spec_text"]

LUA_PATH = "dispatch/genvm_policy/tables.lua"
"""Where `lua_source()` goes, relative to the checkout."""
SPEC_PATH = "docs/SPEC.md"
"""The document whose regions `spec_text` rewrites, relative to the checkout."""

Table = object

Parts = tuple[tuple[str, tuple[tuple[str, Table], ...]], ...]
"""Parts of a generated Lua table file: (part, ((constant name, value), …)), in order."""


def _builtin_names() -> tuple[str, ...]:
    return tuple(sorted(builtin.BUILTINS, key=lambda n: n.encode("utf-8")))


def _builtin_bytes(name: str) -> bytes:
    # A built-in travels as the canonical bytes of its admitted value: Lua decodes a
    # fresh value from them, with arrays and maps told apart, and never admits.
    return encoding.encode(policy.policy_value(builtin.builtin(name)))


# part -> (constant name, value), in the order the Lua file lists them.
_PARTS: Parts = (
    ("errors", (("CODES", tuple(errors.CODES)),)),
    ("numeric", (("MAX", numeric.MAX),)),
    ("encoding", (("MAX_DEPTH", encoding.MAX_DEPTH),)),
    ("identity", (
        ("KINDS", identity.KINDS),
        ("TAG", identity.TAG.decode("ascii")),
        ("PREFIX", identity.PREFIX),
    )),
    ("prng", (
        ("SALT_BYTES", prng.SALT_BYTES),
        ("MAX_KEY_BYTES", prng.MAX_KEY_BYTES),
        ("MAX_LABEL_BYTES", prng.MAX_LABEL_BYTES),
        ("BLOCKS", prng.BLOCKS),
        ("TOP", prng.TOP),
        ("WORD", prng.WORD),
        ("CALL_KEY_TAG", prng.CALL_KEY_TAG),
    )),
    ("catalog", (
        ("VERSION", catalog.VERSION),
        ("MAX_ROUTES", catalog.MAX_ROUTES),
        ("MAX_NAME_BYTES", catalog.MAX_NAME_BYTES),
        ("ROUTE_KEYS", catalog.ROUTE_KEYS),
        ("ROUTE_KINDS", catalog.ROUTE_KINDS),
        ("VIEW_KEYS", catalog.VIEW_KEYS),
    )),
    ("family", (
        ("UNKNOWN", family.UNKNOWN),
        ("TABLE", family.TABLE),
    )),
    ("request", (
        ("ENTRIES", request.ENTRIES),
        ("FORMATS", request.FORMATS),
        ("ROLES", request.ROLES),
        ("TEMPLATE_FORMAT", request.TEMPLATE_FORMAT),
        ("LIMITS", request.LIMITS),
        # LIMITS' fields in its order, which decides the first error; a Lua map has none.
        ("NUMBERS", tuple(request.LIMITS)),
        ("DEFAULT_TEMPERATURE", request.DEFAULT_TEMPERATURE),
        ("DEFAULT_MAX_TOKENS", request.DEFAULT_MAX_TOKENS),
        ("CLASSES", request.CLASSES),
    )),
    ("policy", (
        ("OPS", {op: (sort, kinds) for op, (sort, kinds, _) in policy.OPS.items()}),
        ("LIMITS", policy.LIMITS),
        ("CLASSES", policy.CLASSES),
        ("CLASS_GROUPS", policy.CLASS_GROUPS),
        ("VERSION", policy.VERSION),
        ("BUILTIN_FIELDS", policy.BUILTIN_FIELDS),
        ("PARAMS", policy.PARAMS),
        ("COMPARISONS", policy.COMPARISONS),
        ("REQUEST_FACTS", policy.REQUEST_FACTS),
        ("FITS_CONTEXT", policy.FITS_CONTEXT),
        ("TEXT_FILTERS", policy.TEXT_FILTERS),
    )),
    ("builtin", (
        ("NAMES", _builtin_names()),
        ("VALUES", {name: _builtin_bytes(name) for name in _builtin_names()}),
    )),
    ("mutate", (
        ("JITTER_PART", mutate.JITTER_PART),
        ("PART_BYTES", mutate.PART_BYTES),
    )),
    ("cascade", (
        ("KIND_FIRST", cascade.KIND_FIRST),
        ("BODY_CLASS", cascade.BODY_CLASS),
        ("STATUS_CLASS", cascade.STATUS_CLASS),
        ("SERVER_STATUSES", cascade.SERVER_STATUSES),
        ("UNREADABLE", cascade.UNREADABLE),
        ("KIND_CLASS", cascade.KIND_CLASS),
        ("NO_PROVIDER", cascade.NO_PROVIDER),
    )),
)  # fmt: skip  # a table laid out by hand, one part per block

_HEADER = """\
--- The core's shared tables, generated from the Python reference: do not edit.
--
-- Spec: docs/SPEC.md, each table in its own section. Written by
-- `genvm-policy vectors tables` from the literal tables of genvm_policy/core/
-- (genvm_policy/vectors/tables.py says how); change the Python table and run
-- the command again, and a test regenerates this file and compares bytes.
-- Each part is named after the module that reads it. A tuple is an array in
-- its order and a dict a map; a module that wants a set builds it.

return {
"""

_KEYWORDS = frozenset(
    "and break do else elseif end false for function goto if in local nil not or repeat "
    "return then true until while".split()
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _text(s: str) -> str:
    # Every table text is printable ASCII or UTF-8 beyond it; only `"` and `\` need escapes.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in s):
        raise ValueError(f"table text {s!r} holds a control character")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key(k: object) -> str:
    if isinstance(k, str):
        return k if _NAME.fullmatch(k) and k not in _KEYWORDS else f"[{_text(k)}]"
    if isinstance(k, int) and not isinstance(k, bool):
        return f"[{k}]"
    raise TypeError(f"table key {k!r} is neither text nor an integer")


def _bytes(b: bytes) -> str:
    # A byte string (a domain tag, a salt) is Lua text: printable ASCII as itself, any
    # other byte as a three-digit escape, so a digit after it cannot join it.
    out = []
    for c in b:
        ch = chr(c)
        out.append("\\" + ch if ch in '"\\' else ch if 0x20 <= c < 0x7F else f"\\{c:03d}")
    return '"' + "".join(out) + '"'


def _inline(v: Table) -> str:
    if isinstance(v, bytes):
        return _bytes(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _text(v)
    if isinstance(v, (tuple, list)):
        return "{ " + ", ".join(_inline(x) for x in v) + " }" if v else "{}"
    if isinstance(v, dict):
        items = ", ".join(f"{_key(k)} = {_inline(x)}" for k, x in v.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"table value {v!r} has no Lua form")


def _constant(name: str, v: Table) -> list[str]:
    # A container is one entry per line, so a changed entry is a one-line diff.
    if isinstance(v, dict) and v:
        rows = [f"      {_key(k)} = {_inline(x)}," for k, x in v.items()]
        return [f"    {name} = {{", *rows, "    },"]
    if isinstance(v, (tuple, list)) and v:
        return [f"    {name} = {{", *(f"      {_inline(x)}," for x in v), "    },"]
    return [f"    {name} = {_inline(v)},"]


def render(header: str, parts: Parts) -> str:
    """A generated Lua file: `header`, then one table a part (rule 1); a pure function."""
    lines: list[str] = []
    for part, constants in parts:
        lines.append(f"  {part} = {{")
        for name, value in constants:
            lines += _constant(name, value)
        lines.append("  },")
    return header + "\n".join(lines) + "\n}\n"


def lua_source() -> str:
    """The text of `dispatch/genvm_policy/tables.lua` (rule 1)."""
    return render(_HEADER, _PARTS)


# -- the spec's tables ----------------------------------------------------------------


def _number(n: int) -> str:
    """An integer as the spec writes bounds: `10^12`, `2^31`, `2^32 − 1`, `−2^31`, `16`."""
    if n < 0:
        return "−" + _number(-n)
    for base in (10, 2):
        for e in range(6 if base == 10 else 11, 64):
            if n == base**e:
                return f"{base}^{e}"
            if base == 2 and n == base**e - 1:
                return f"2^{e} − 1"
    return f"{n:,}" if n >= 100_000 else str(n)


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _grouped(table: Mapping[str, tuple[int, ...]]) -> list[tuple[list[str], tuple[int, ...]]]:
    # Rows with the same value share a line, in the order of their first entry.
    groups: dict[tuple[int, ...], list[str]] = {}
    for name, value in table.items():
        groups.setdefault(value, []).append(name)
    return [(names, value) for value, names in groups.items()]


def _by_class(table: Mapping[str, str] | Mapping[int, str], sort: bool) -> list[str]:
    rows = []
    for cls in policy.CLASSES:
        keys = [k for k, c in table.items() if c == cls]
        if keys:
            shown = [str(k) for k in sorted(keys)] if sort else [f"`{k}`" for k in keys]
            rows.append(f"| {', '.join(shown)} | `{cls}` |")
    return rows


def _codes() -> list[str]:
    rows = ["| code | raised when |", "|---|---|"]
    for code, when in errors.CODES.items():
        cell = when.replace("|", "\\|")  # a bare `|` would end the cell
        rows.append(f"| `{code}` | {cell} |")
    return rows


def _ops() -> list[str]:
    rows = ["| op | sort | arguments | meaning |", "|---|---|---|---|"]
    for op, (sort, kinds, section) in policy.OPS.items():
        args = " ".join(f"`{k}`" for k in kinds) or "none"
        rows.append(f"| `{op}` | {sort} | {args} | {section} |")
    return rows


def _fields() -> list[str]:
    rows = ["| field | scale | bounds |", "|---|---|---|"]
    for names, (scale, lo, hi) in _grouped(policy.BUILTIN_FIELDS):
        rows.append(f"| {_names(names)} | {scale} | {_number(lo)} … {_number(hi)} |")
    return rows


def _params() -> list[str]:
    rows = ["| parameter | scale | bounds |", "|---|---|---|"]
    for name, (scale, lo, hi) in policy.PARAMS.items():
        rows.append(f"| `{name}` | {scale} | {_number(lo)} … {_number(hi)} |")
    return rows


def _limits() -> list[str]:
    rows = ["| limit | bound |", "|---|---|"]
    rows += [f"| `{name}` | {_number(bound)} |" for name, bound in policy.LIMITS.items()]
    return rows


def _classes() -> list[str]:
    rows = ["| class | in group |", "|---|---|"]
    for c in policy.CLASSES:
        groups = [g for g, members in policy.CLASS_GROUPS.items() if c in members]
        rows.append(f"| `{c}` | {_names(groups) or 'none'} |")
    return rows


def _cost() -> list[str]:
    rows = ["| op | per route | per decision |", "|---|---|---|"]
    rows += [f"| `{op}` | {r:,} | {d:,} |" for op, (r, d) in cost.COST.items()]
    return rows


def _body() -> list[str]:
    return ["| code | class |", "|---|---|", *_by_class(cascade.BODY_CLASS, sort=False)]


def _status() -> list[str]:
    return ["| status | class |", "|---|---|", *_by_class(cascade.STATUS_CLASS, sort=True)]


REGIONS: dict[str, Callable[[], list[str]]] = {
    "codes": _codes,
    "ops": _ops,
    "fields": _fields,
    "params": _params,
    "limits": _limits,
    "cost": _cost,
    "classes": _classes,
    "body-class": _body,
    "status-class": _status,
}
"""Region name -> its table's lines, without the marker lines (rule 2)."""

_REGION = re.compile(
    r"^(?P<indent>[ ]*)<!-- tables:(?P<name>[a-z-]+) .*-->\n(?P<body>.*?)^(?P=indent)"
    r"<!-- /tables:(?P=name) -->$",
    re.M | re.S,
)


def spec_text(old: str) -> str:
    """`old` (docs/SPEC.md) with every generated region rewritten (rule 2)."""
    seen: list[str] = []

    def fill(m: re.Match[str]) -> str:
        name, indent = m["name"], m["indent"]
        if name not in REGIONS:
            raise ValueError(f"SPEC region `{name}` is not one of {', '.join(REGIONS)}")
        seen.append(name)
        start = m.group(0).split("\n", 1)[0]
        body = "".join(f"{indent}{line}\n" for line in REGIONS[name]())
        return f"{start}\n{body}{indent}<!-- /tables:{name} -->"

    new = _REGION.sub(fill, old)
    missing = [n for n in REGIONS if n not in seen]
    if missing:
        raise ValueError(f"SPEC has no region for {', '.join(missing)}")
    return new
