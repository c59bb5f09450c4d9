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
   order, and every term is checked against the op table, by the core readers
   the Lua runtime mirrors (`catalog_from_value`, `policy_from_value`), so a
   hand-edited file gets `HOOK_VALUE` at the path of the first wrong item (the
   reader's path under `catalog` or `policy`) and never another error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from genvm_policy.core.catalog import (
    Catalog,
    catalog_from_value,
    catalog_identity,
    catalog_value,
    genvm_view,
    view_identity,
)
from genvm_policy.core.encoding import Value, decode, encode
from genvm_policy.core.errors import PolicyError, quote
from genvm_policy.core.identity import identity
from genvm_policy.core.policy import Policy, policy_from_value, policy_identity, policy_value

__all__ = [
    "FORMAT",
    "SPEC_VERSION",
    "Compiled",
    "compile_policy",
    "compiled_identity",
    "lua_string",
    "read_compiled",
]

FORMAT = 1
"""The compiled file's format; the hook refuses any other."""

SPEC_VERSION = 2
"""The genvm-policy specification the file was compiled under."""

PREFIX = b'return { format = %d, bytes = "'
SUFFIX = b'" }\n'
KEYS = ("format", "spec", "policy", "catalog", "identities")
"""The keys of the compiled value (rule 2)."""
IDENTITY_KEYS = ("policy", "catalog", "genvm-view")
"""The keys of its `identities` map: the identities compile checked it against."""
_PRINTABLE = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}
_T = TypeVar("_T")


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


def _part(read: Callable[[Any], _T], top: Mapping[str, Any], key: str) -> _T:
    """`read(top[key])`, a core reader's error becoming `HOOK_VALUE` under `key` (rule 5)."""
    try:
        return read(top[key])
    except PolicyError as err:
        raise _value_error((key, *err.path), err.message) from None


def read_compiled(text: bytes) -> Compiled:
    """Read and verify a compiled file (rule 4), as the hook does with every check on."""
    head = PREFIX % FORMAT
    if not text.startswith(b"return { format = ") or not text.endswith(SUFFIX):
        raise _format("this is not a compiled genvm-policy file")
    if not text.startswith(head):
        raise _format(f"the file has another format than `{FORMAT}`")
    value = decode(_unescape(text[len(head) : -len(SUFFIX)]))
    top = _map(value, KEYS, ())
    if top["format"] != FORMAT or top["spec"] != SPEC_VERSION:
        raise _format(
            f"the file was compiled for format {quote(top['format'], 16)}, "
            f"spec {quote(top['spec'], 16)}"
        )
    ids: Mapping[str, Any] = _map(top["identities"], IDENTITY_KEYS, ())
    catalog = _part(catalog_from_value, top, "catalog")
    policy = _part(policy_from_value, top, "policy")
    if catalog_value(catalog) != top["catalog"] or policy_value(policy) != top["policy"]:
        raise _value_error((), "the catalog or the policy is not in canonical form")
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
