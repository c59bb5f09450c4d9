"""The compiled policy: what the GenVM hook loads, as a data-only Lua chunk.

Spec: docs/HOOK.md §3 (The compiled policy); identities from docs/SPEC.md §3.

Rules:
1. The file is exactly `return { format = 1, bytes = "<body>" }` and a newline,
   where `<body>` spells the canonical CBOR bytes with printable ASCII other
   than `"` and `\\` as themselves and every other byte as `\\ddd` (three
   decimal digits). It loads with `load(text, "=policy", "t", {})` and runs no
   code; the hook checks that grammar before it loads anything.
2. The bytes decode (SPEC §2) to the map `{format: 1, spec: 1, policy: <policy
   value>, catalog: <catalog value>, identities: {policy, catalog, genvm-view}}`.
3. The compiled identity is `identity("compiled", {format, spec, policy,
   catalog, genvm-view})` over the three identity texts: it names the whole
   file while costing one SHA-256 block to recompute.
4. `read_compiled` is the reference reader: it refuses another format
   (`HOOK_FORMAT`), a value of the wrong shape (`HOOK_VALUE`) and any identity
   that does not match its content (`HOOK_IDENTITY`), and rebuilds the catalog
   and the policy from their canonical values.
5. Shapes are checked before any value is used: every catalog entry and
   route fact has its kind (text, boolean, integer, or null where a fact may
   be absent), routes are in strictly increasing provider-then-model bytes
   order, and every term starts with an op name, so a hand-edited file gets
   `HOOK_VALUE` at the path of the first wrong item and never another error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genvm_policy.catalog import (
    Catalog,
    FieldDecl,
    Route,
    catalog_identity,
    catalog_value,
    genvm_view,
    view_identity,
)
from genvm_policy.encoding import Value, decode, encode
from genvm_policy.errors import PolicyError, quote
from genvm_policy.identity import identity
from genvm_policy.policy import CLASSES, LIMITS, OPS, Policy, policy_identity, policy_value

__all__ = [
    "FORMAT",
    "SPEC_VERSION",
    "Compiled",
    "catalog_from_value",
    "compile_policy",
    "compiled_identity",
    "lua_string",
    "policy_from_value",
    "read_compiled",
]

FORMAT = 1
"""The compiled file's format; the hook refuses any other."""

SPEC_VERSION = 2
"""The genvm-policy specification the file was compiled under."""

PREFIX = b'return { format = %d, bytes = "'
SUFFIX = b'" }\n'
_PRINTABLE = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}
# Route key -> kind (rule 5): `text`, `bool`, `int`, `int?` (an integer or null),
# `text?`, `ints` (a map of integers).
_ROUTE_KINDS = {
    "provider": "text", "model": "text", "kind": "text", "json": "bool", "image": "bool",
    "max_completion_tokens": "bool", "greybox_text": "int?", "greybox_image": "int?",
    "priority": "int?", "family": "text", "tier": "text?", "price_in": "int?",
    "price_out": "int?", "context": "int?", "has_tee": "bool", "no_log": "bool",
    "fields": "ints",
}  # fmt: skip
_ROUTE_KEYS = tuple(_ROUTE_KINDS)


@dataclass(frozen=True)
class Compiled:
    """A compiled policy read back: the catalog, the policy and their identities."""

    catalog: Catalog
    policy: Policy
    policy_id: str
    catalog_id: str
    view_id: str
    identity: str


def lua_string(data: bytes) -> bytes:
    """`data` as the body of a double-quoted Lua string literal (rule 1)."""
    return b"".join(bytes((b,)) if b in _PRINTABLE else b"\\%03d" % b for b in data)


def compiled_identity(policy_id: str, catalog_id: str, view_id: str) -> str:
    """The compiled identity over the three identities it binds (rule 3)."""
    return identity(
        "compiled",
        {
            "format": FORMAT,
            "spec": SPEC_VERSION,
            "policy": policy_id,
            "catalog": catalog_id,
            "genvm-view": view_id,
        },
    )


def compile_policy(catalog: Catalog, policy: Policy) -> bytes:
    """The compiled file for a policy admitted against `catalog` (rules 1-2)."""
    value: dict[str, Value] = {
        "format": FORMAT,
        "spec": SPEC_VERSION,
        "policy": policy_value(policy),
        "catalog": catalog_value(catalog),
        "identities": {
            "policy": policy_identity(policy),
            "catalog": catalog_identity(catalog),
            "genvm-view": view_identity(catalog),
        },
    }
    return PREFIX % FORMAT + lua_string(encode(value)) + SUFFIX


def _unescape(body: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        b = body[i]
        if b == 0x5C:  # a backslash starts `\ddd`
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not digits.isdigit() or int(digits) > 255:
                raise _format("the byte string holds an escape other than `\\ddd`")
            out.append(int(digits))
            i += 4
        elif b in _PRINTABLE:
            out.append(b)
            i += 1
        else:
            raise _format("the byte string holds a raw byte that must be escaped")
    return bytes(out)


def _format(message: str) -> PolicyError:
    return PolicyError(
        "HOOK_FORMAT",
        (),
        message,
        "compile it again with `genvm-policy compile`",
    )


def _value_error(path: tuple[str | int, ...], message: str) -> PolicyError:
    return PolicyError("HOOK_VALUE", path, message)


def _map(value: object, keys: tuple[str, ...], path: tuple[str | int, ...]) -> dict[str, Any]:
    if not isinstance(value, dict) or sorted(value) != sorted(keys):
        raise _value_error(path, "expected a map with the keys " + ", ".join(sorted(keys)))
    return value


def _kind(value: object, kind: str, path: tuple[str | int, ...]) -> None:
    """Check `value` against a kind of `_ROUTE_KINDS` (rule 5)."""
    if kind.endswith("?") and value is None:
        return
    base = kind.rstrip("?")
    if base == "ints" and isinstance(value, dict):
        for key, item in sorted(value.items()):
            _kind(item, "int", (*path, key))
        return
    # "ints" that is not a map fails here too: an integer is not a map of them.
    ok = {"text": isinstance(value, str), "bool": isinstance(value, bool), "ints": False}.get(
        base, isinstance(value, int) and not isinstance(value, bool)
    )
    if not ok:
        wanted = {"text": "text", "bool": "a boolean", "ints": "a map of integers"}
        raise _value_error(path, "expected " + wanted.get(base, "an integer") + " here")


def _list(value: object, path: tuple[str | int, ...]) -> list[Any]:
    if not isinstance(value, list):
        raise _value_error(path, "expected a list")
    return value


def catalog_from_value(value: Value) -> Catalog:
    """The catalog whose canonical value (SPEC §5.5) is `value`; `HOOK_VALUE` otherwise."""
    top = _map(value, ("version", "tiers", "default_tier", "fields", "routes"), ("catalog",))
    for n, tier in enumerate(_list(top["tiers"], ("catalog", "tiers"))):
        _kind(tier, "text", ("catalog", "tiers", n))
    _kind(top["default_tier"], "text?", ("catalog", "default_tier"))
    routes: list[Route] = []
    for n, raw in enumerate(_list(top["routes"], ("catalog", "routes"))):
        r = _map(raw, _ROUTE_KEYS, ("catalog", "routes", n))
        for key, kind in _ROUTE_KINDS.items():
            _kind(r[key], kind, ("catalog", "routes", n, key))
        route = Route(**{**r, "fields": tuple(sorted(r["fields"].items()))})
        # Strictly increasing bytes order: the hook's ranks and lookups rely on it.
        if routes and _order(routes[-1]) >= _order(route):
            raise _value_error(("catalog", "routes", n), "routes are not in bytes order")
        routes.append(route)
    decls = []
    for n, raw in enumerate(_list(top["fields"], ("catalog", "fields"))):
        d = _map(raw, ("name", "scale", "min", "max"), ("catalog", "fields", n))
        for key in ("name", "scale", "min", "max"):
            _kind(d[key], "text" if key == "name" else "int", ("catalog", "fields", n, key))
        decls.append(FieldDecl(d["name"], d["scale"], d["min"], d["max"]))
    catalog = Catalog(tuple(routes), tuple(top["tiers"]), top["default_tier"], tuple(decls))
    if catalog_value(catalog) != value:
        raise _value_error(("catalog",), "the catalog value is not in canonical form")
    return catalog


def _order(r: Route) -> tuple[bytes, bytes]:
    return r.provider.encode("utf-8"), r.model.encode("utf-8")


def policy_from_value(value: Value) -> Policy:
    """The policy whose canonical value (SPEC §7.3) is `value`; `HOOK_VALUE` otherwise."""
    keys = ("version", "filter", "score", "select", "mutate", "on_failure", "max_attempts")
    top = _map(value, keys, ("policy",))
    plan = _map(top["on_failure"], CLASSES, ("policy", "on_failure"))
    if not isinstance(top["mutate"], list):
        raise _value_error(("policy", "mutate"), "expected a list of mutations")
    slots: list[tuple[tuple[str | int, ...], object, str]] = [
        (("policy", "filter"), top["filter"], "P"),
        (("policy", "score"), top["score"], "S"),
        (("policy", "select"), top["select"], "L"),
        *((("policy", "mutate", n), m, "M") for n, m in enumerate(top["mutate"])),
        *((("policy", "on_failure", c), plan[c], "A") for c in CLASSES),
    ]
    for path, term, sort in slots:
        op = term[0] if isinstance(term, list) and term else None
        if not isinstance(op, str) or OPS.get(op, ("",))[0] != sort:
            raise _value_error(path, f"expected a term of sort {quote(sort)}")
    cap = top["max_attempts"]
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= LIMITS["max_attempts"]:
        raise _value_error(("policy", "max_attempts"), "expected an integer within the limit")
    policy = Policy(
        top["filter"],
        top["score"],
        top["select"],
        tuple(top["mutate"]),
        tuple((c, plan[c]) for c in CLASSES),
        top["max_attempts"],
    )
    if policy_value(policy) != value:
        raise _value_error(("policy",), "the policy value is not in canonical form")
    return policy


def read_compiled(text: bytes) -> Compiled:
    """Read and verify a compiled file (rule 4), as the hook does with every check on."""
    head = PREFIX % FORMAT
    if not text.startswith(b"return { format = ") or not text.endswith(SUFFIX):
        raise _format("this is not a compiled genvm-policy file")
    if not text.startswith(head):
        raise _format(f"the file has another format than `{FORMAT}`")
    value = decode(_unescape(text[len(head) : -len(SUFFIX)]))
    top = _map(value, ("format", "spec", "policy", "catalog", "identities"), ())
    if top["format"] != FORMAT or top["spec"] != SPEC_VERSION:
        raise _format(
            f"the file was compiled for format {quote(top['format'], 16)}, "
            f"spec {quote(top['spec'], 16)}"
        )
    ids: Mapping[str, Any] = _map(top["identities"], ("policy", "catalog", "genvm-view"), ())
    catalog = catalog_from_value(top["catalog"])
    policy = policy_from_value(top["policy"])
    found = {
        "policy": policy_identity(policy),
        "catalog": catalog_identity(catalog),
        "genvm-view": identity("genvm-view", genvm_view(catalog)),
    }
    for kind, got in found.items():
        if ids[kind] != got:
            raise PolicyError(
                "HOOK_IDENTITY",
                ("identities", kind),
                f"the recorded {kind} identity does not match the file's content",
                "the file was edited by hand: compile it again",
            )
    return Compiled(
        catalog,
        policy,
        found["policy"],
        found["catalog"],
        found["genvm-view"],
        compiled_identity(found["policy"], found["catalog"], found["genvm-view"]),
    )
