"""The reference side of every vector kind: one runner per kind, input value to result.

Spec: docs/VECTORS.md ("Host escapes", "Results" and one subsection per kind);
each runner pins the SPEC section its kind names.

Rules:
1. A runner takes a case's `input` (a data-model value) and returns its
   result: `{"output": value}`, or `{"error": {code, path}}` exactly as
   `PolicyError.as_value()` gives it. The Lua runner `dispatch/vectors/runner.lua`
   returns the same result for the same input, compared on canonical bytes.
2. Values outside the data model travel as host escapes, a map with one key
   beginning with `$`: `$int` (a signed big-endian integer of 1 … 8 bytes),
   `$float` (8 bytes of IEEE 754 binary64, big-endian), `$text` (text given
   by its raw bytes, which may be invalid UTF-8), `$entry` (`[k, v]`: a map
   with the one entry `k: v`, `k` itself a host value, so it may be a
   number, a boolean or invalid text), `$nest` (`[n, "array" | "map", leaf]`: `n`
   containers around `leaf`). `host` turns them into host values.
3. An input that breaks its kind's shape is a bad vector (`VEC_FORMAT`), never
   a result: a runner only reports what the code under test decided.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genvm_policy.core import encoding, family, identity, numeric, prng
from genvm_policy.core.encoding import Value
from genvm_policy.core.errors import PolicyError
from genvm_policy.vectors.escapes import Runner, host
from genvm_policy.vectors.escapes import bad as _bad
from genvm_policy.vectors.escapes import field as _field
from genvm_policy.vectors.escapes import path_of as _path
from genvm_policy.vectors.run_policy import POLICY_RUNNERS

__all__ = ["RUNNERS", "host", "run"]


# -- §1 numeric -----------------------------------------------------------

_NUMERIC: dict[str, tuple[int, Callable[..., int]]] = {
    "check": (1, numeric.check),
    "neg": (1, numeric.neg),
    "add": (2, numeric.add),
    "sub": (2, numeric.sub),
    "mul": (2, numeric.mul),
    "floordiv": (2, numeric.floordiv),
}


def run_numeric(data: dict[str, Any]) -> Any:
    """`{op, args, path}`: a checked operation of SPEC §1.2 on host operands."""
    op = _field(data, "op")
    args = host(_field(data, "args"))
    if op not in _NUMERIC or len(args) != _NUMERIC[op][0]:
        raise _bad(("op",), f"`{op}` with {len(args)} operands is not a numeric operation")
    return _NUMERIC[op][1](*args, _path(data))


def run_decimal(data: dict[str, Any]) -> Any:
    """`{op, value, scale, lo?, hi?, path}`: decimal text to units (SPEC §1.4–§1.6)."""
    op = _field(data, "op")
    scale = host(_field(data, "scale"))
    bounds = {"lo": host(data.get("lo", -numeric.MAX)), "hi": host(data.get("hi", numeric.MAX))}
    value = host(_field(data, "value"))
    if op == "parse_decimal":
        units = numeric.parse_decimal(value, scale, _path(data), **bounds)
    elif op == "to_int":
        units = numeric.to_int(value, _path(data), scale=scale, **bounds)
    else:
        raise _bad(("op",), f"`{op}` is not a decimal operation")
    return {"units": units, "text": numeric.format_units(units, scale)}


# -- §2 encoding, §3 identity -----------------------------------------------


def run_cbor(data: dict[str, Any]) -> Any:
    """`{op: "encode", value}` gives the bytes; `{op: "decode", bytes}` the value (SPEC §2).

    `{op: "roundtrip", bytes}` decodes and encodes again: for values nested too
    deep to sit inside a vector file themselves.
    """
    op = _field(data, "op")
    if op == "encode":
        return encoding.encode(host(_field(data, "value")))
    if op == "decode":
        return encoding.decode(_field(data, "bytes"))
    if op == "roundtrip":
        return encoding.encode(encoding.decode(_field(data, "bytes")))
    raise _bad(("op",), f"`{op}` is not a cbor operation")


def run_identity(data: dict[str, Any]) -> Any:
    """`{op: "identity", kind, value}` or `{op: "parse", text, path}` (SPEC §3)."""
    op = _field(data, "op")
    if op == "identity":
        return identity.identity(host(_field(data, "kind")), host(_field(data, "value")))
    if op == "parse":
        return identity.parse_identity(host(_field(data, "text")), _path(data))
    raise _bad(("op",), f"`{op}` is not an identity operation")


# -- §4 prng ----------------------------------------------------------------


def run_sha256(data: dict[str, Any]) -> Any:
    """`{data}`: the 32-byte SHA-256 digest (SPEC §4, FIPS 180-4)."""
    return prng.sha256(_field(data, "data"))


def run_hmac(data: dict[str, Any]) -> Any:
    """`{key, msg}`: the 32-byte HMAC-SHA256 (SPEC §4, RFC 2104)."""
    return prng.hmac_sha256(_field(data, "key"), _field(data, "msg"))


def _draw(stream: prng.Stream, step: Any) -> Any:
    if step[0] == "read":
        return stream.read(step[1])
    if step[0] == "u53":
        return stream.u53()
    if step[0] == "u32":
        return stream.u32()
    if step[0] == "below":
        return stream.below(host(step[1]))
    raise _bad(("draws",), f"`{step[0]}` is not a draw")


def run_prng(data: dict[str, Any]) -> Any:
    """`{op: "stream", key, label, draws}` or `{op: "block", key, label, index}` (SPEC §4.4–6)."""
    op = _field(data, "op")
    key, label = _field(data, "key"), host(_field(data, "label"))
    if op == "block":
        return prng.stream_block(key, label, host(_field(data, "index")))
    if op == "stream":
        stream = prng.Stream(key, label)
        return [_draw(stream, step) for step in _field(data, "draws")]
    raise _bad(("op",), f"`{op}` is not a prng operation")


def run_seed(data: dict[str, Any]) -> Any:
    """`{op: "call_key", salt, material}` or `{op: "commitment", key}` (SPEC §4.2–§4.3)."""
    op = _field(data, "op")
    if op == "call_key":
        key = prng.call_key(_field(data, "salt"), host(_field(data, "material")))
        return {"key": key, "commitment": prng.seed_commitment(key)}
    if op == "commitment":
        return prng.seed_commitment(_field(data, "key"))
    raise _bad(("op",), f"`{op}` is not a seed operation")


# -- §5.8 family -------------------------------------------------------------


def run_family(data: dict[str, Any]) -> Any:
    """`{op: "family", provider, model}` or `{op: "table"}` (SPEC §5.8).

    `family` gives `{family, origin}`; `table` gives the rule's table, so a
    runtime whose table differs fails even where no case reaches the row.
    """
    op = _field(data, "op")
    if op == "family":
        name, origin = family.family_of(_field(data, "provider"), _field(data, "model"))
        return {"family": name, "origin": origin}
    if op == "table":
        return {key: list(rows) for key, rows in family.TABLE.items()}
    raise _bad(("op",), f"`{op}` is not a family operation")


RUNNERS: dict[str, Runner] = {
    "numeric": run_numeric,
    "decimal": run_decimal,
    "cbor": run_cbor,
    "identity": run_identity,
    "sha256": run_sha256,
    "hmac": run_hmac,
    "prng": run_prng,
    "seed": run_seed,
    "family": run_family,
    **POLICY_RUNNERS,
}
"""The reference runner of each kind, by kind name."""


def run(kind: str, data: Value) -> dict[str, Value]:
    """The result of the case input `data` of `kind` under the reference (rule 1)."""
    if not isinstance(data, dict):
        raise _bad((), "a case input is not a map")
    try:
        return {"output": RUNNERS[kind](data)}
    except PolicyError as err:
        if err.code == "VEC_FORMAT":
            raise
        return {"error": {"code": err.code, "path": list(err.path)}}
