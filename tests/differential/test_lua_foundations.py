"""The Lua runtime's foundations against the Python reference and the standards.

Spec: docs/SPEC.md §0–§4. Every test runs in fresh `lupa` Lua 5.3 and 5.4
states stripped to GenVM's sandbox (`tests/support/luasandbox.py`); SHA-256 and HMAC
are compared with hashlib/hmac, everything else with the Python reference
modules byte for byte and (code, path) for (code, path).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from support.drivers import driver
from support.luasandbox import DISPATCH, ROOT, new_state
from support.runtimes import STANDALONE_INTERPRETERS

from genvm_policy.core import encoding, identity, numeric, prng
from genvm_policy.core.errors import CODES, PolicyError

pytestmark = pytest.mark.runtimes("lupa")

MODULES = ["errors", "numeric", "values", "encoding", "identity", "sha256", "prng", "predicate",
           "interpreter", "selection", "mutate"]  # fmt: skip  # a table laid out by hand in rows
MAX = numeric.MAX

# Bytes come back as hex and errors as tuples (see the driver).
HELPERS = driver("foundations").decode()

_STATES: dict[str, Any] = {}


def state(runtime: str) -> Any:
    """One sandboxed state per runtime for the read-only tests (modules keep no state)."""
    if runtime not in _STATES:
        lua = new_state(runtime)
        lua.globals().H = lua.execute(HELPERS)
        _STATES[runtime] = lua
    return _STATES[runtime]


def H(lua: Any) -> Any:
    """The helper table of a state made by `state`."""
    return lua.globals().H


def mod(lua: Any, name: str) -> Any:
    return lua.eval(f'(require("genvm_policy.{name}"))')


def outcome(lua: Any, result: tuple[Any, ...]) -> tuple[Any, ...]:
    """("ok", value…) or ("error", code, path tuple); a crash fails the test."""
    assert result[0] != "crash", f"the Lua runtime crashed: {result[1]}"
    if result[0] == "error":
        path = result[2]
        return ("error", result[1], tuple(path[i] for i in range(1, H(lua).len(path) + 1)))
    return result


def py_outcome(f: Any, *args: Any) -> tuple[Any, ...]:
    try:
        return ("ok", f(*args))
    except PolicyError as e:
        return ("error", e.code, e.path)


# -- converting values between the reference and the Lua representation ----


def to_lua(lua: Any, value: Any) -> Any:
    enc = mod(lua, "encoding")
    if value is None:
        return enc.null
    if isinstance(value, bytes):
        return enc.bytes(value)
    if isinstance(value, list):
        return enc.array(lua.table(*[to_lua(lua, v) for v in value]))
    if isinstance(value, dict):
        return enc.map(lua.table_from({k: to_lua(lua, v) for k, v in value.items()}))
    return value


def from_lua(lua: Any, value: Any) -> Any:
    kind = mod(lua, "encoding").kind(value)
    if kind == "integer":
        assert isinstance(value, int)
        return value
    if kind == "bytes":
        return bytes.fromhex(H(lua).hexcall(H(lua).first, value)[1])
    if kind == "array":
        return [from_lua(lua, value[i]) for i in range(1, H(lua).len(value) + 1)]
    if kind == "map":
        return {k: from_lua(lua, value[k]) for k in list(value.keys())}
    if kind == "null":
        return None
    assert kind in ("text", "boolean"), kind
    return value


# Text without lone surrogates (lupa cannot pass them), NFC as the model requires.
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=30).filter(
    lambda s: __import__("unicodedata").is_normalized("NFC", s)
)
ints = st.one_of(
    st.integers(-MAX, MAX),
    st.sampled_from([0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, MAX, -MAX, -1, -24, -25]),
)
scalars = st.one_of(st.none(), st.booleans(), ints, texts, st.binary(max_size=40))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(texts, inner, max_size=5)),
    max_leaves=20,
)


# -- SHA-256 and HMAC -------------------------------------------------------


def sha_hex(lua: Any, data: bytes) -> str:
    return str(outcome(lua, H(lua).hexcall(mod(lua, "sha256").sha256, data))[1])


def hmac_hex(lua: Any, key: bytes, msg: bytes) -> str:
    return str(outcome(lua, H(lua).hexcall(mod(lua, "sha256").hmac_sha256, key, msg))[1])


def test_sha256_every_length_to_300(runtime: str) -> None:
    lua = state(runtime)
    for n in range(301):
        data = bytes((i * 7 + n) % 256 for i in range(n))
        assert sha_hex(lua, data) == hashlib.sha256(data).hexdigest(), n


@given(data=st.binary(max_size=700))
def test_sha256_random(runtime: str, data: bytes) -> None:
    assert sha_hex(state(runtime), data) == hashlib.sha256(data).hexdigest()


FIPS = [
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ),
    (b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
]


@pytest.mark.parametrize(("data", "digest"), FIPS, ids=["abc", "empty", "448", "million"])
def test_sha256_fips(runtime: str, data: bytes, digest: str) -> None:
    assert sha_hex(state(runtime), data) == digest


RFC4231 = [
    (b"\x0b" * 20, b"Hi There"),
    (b"Jefe", b"what do ya want for nothing?"),
    (b"\xaa" * 20, b"\xdd" * 50),
    (bytes(range(1, 26)), b"\xcd" * 50),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"),
    (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size "
        b"data. The key needs to be hashed before being used by the HMAC algorithm.",
    ),
]


@pytest.mark.parametrize(("key", "msg"), RFC4231, ids=["1", "2", "3", "4", "6", "7"])
def test_hmac_rfc4231(runtime: str, key: bytes, msg: bytes) -> None:
    assert hmac_hex(state(runtime), key, msg) == hmac.new(key, msg, hashlib.sha256).hexdigest()


@given(key=st.binary(max_size=200), msg=st.binary(max_size=200))
def test_hmac_random(runtime: str, key: bytes, msg: bytes) -> None:
    assert hmac_hex(state(runtime), key, msg) == hmac.new(key, msg, hashlib.sha256).hexdigest()


# -- numeric ----------------------------------------------------------------

EDGES = [0, 1, -1, 2, -2, 7, -7, 94906265, 94906266, 2**26, 2**27, MAX, -MAX, MAX - 1]
BEYOND = [MAX + 1, -MAX - 1, 2**62, -(2**62), 2**63 - 1, -(2**63)]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "floordiv"])
def test_numeric_binary_ops_at_bounds(runtime: str, op: str) -> None:
    lua = state(runtime)
    f = mod(lua, "numeric")[op]
    for a in EDGES + BEYOND:
        for b in EDGES + BEYOND:
            got = outcome(lua, H(lua).call(f, a, b, lua.table("x", 0)))
            want = py_outcome(getattr(numeric, op), a, b, ("x", 0))
            assert got == want, (op, a, b)
            if got[0] == "ok":
                assert H(lua).mathtype(got[1]) == "integer"


@pytest.mark.parametrize("op", ["check", "neg"])
def test_numeric_unary_ops(runtime: str, op: str) -> None:
    lua = state(runtime)
    f = mod(lua, "numeric")[op]
    for a in [*EDGES, *BEYOND, 3.0, 0.5, "7", True, None]:
        got = outcome(lua, H(lua).call(f, a))
        assert got == py_outcome(getattr(numeric, op), a), (op, a)


@given(a=st.integers(-MAX, MAX), b=st.integers(-MAX, MAX))
def test_numeric_random(runtime: str, a: int, b: int) -> None:
    lua = state(runtime)
    for op in ("add", "sub", "mul", "floordiv"):
        got = outcome(lua, H(lua).call(mod(lua, "numeric")[op], a, b))
        assert got == py_outcome(getattr(numeric, op), a, b), (op, a, b)


def test_from_host(runtime: str) -> None:
    lua = state(runtime)
    from_host = mod(lua, "numeric").from_host
    assert from_host(503.0) == 503
    assert H(lua).mathtype(from_host(503.0)) == "integer"
    assert H(lua).mathtype(from_host(-4)) == "integer"
    assert from_host(float(MAX)) == MAX
    for bad in [0.5, float("inf"), float("nan"), 2.0**60, "503", True, None]:
        assert from_host(bad) is None, bad


# -- encoding ---------------------------------------------------------------


def lua_encode(lua: Any, value: Any) -> tuple[Any, ...]:
    return outcome(lua, H(lua).hexcall(mod(lua, "encoding").encode, to_lua(lua, value)))


@given(value=values)
def test_encode_matches_reference(runtime: str, value: Any) -> None:
    lua = state(runtime)
    want = encoding.encode(value)
    assert lua_encode(lua, value) == ("ok", want.hex())
    decoded = mod(lua, "encoding").decode(want)
    assert from_lua(lua, decoded) == encoding.decode(want)


@given(value=st.integers(-(2**63), 2**63 - 1))
def test_encode_integers_beyond_bounds(runtime: str, value: int) -> None:
    lua = state(runtime)
    want = py_outcome(encoding.encode, value)
    if want[0] == "ok":
        want = ("ok", want[1].hex())
    assert lua_encode(lua, value) == want


def test_encode_rejections(runtime: str) -> None:
    lua = state(runtime)
    enc = mod(lua, "encoding")
    for value, code, path in [
        ({"a": [1, MAX + 1]}, "CBOR_RANGE", ("a", 1)),
        ([[[1.5]]], "CBOR_TYPE", (0, 0, 0)),
        ({"k": {"\u00e9": 2**60}}, "CBOR_RANGE", ("k", "\u00e9")),
    ]:
        assert lua_encode(lua, value) == ("error", code, path)
        assert py_outcome(encoding.encode, value) == ("error", code, path)
    untagged = lua.eval("function(enc) return enc.array({ {} }) end")(enc)
    assert outcome(lua, H(lua).call(enc.encode, untagged)) == ("error", "CBOR_TYPE", (0,))
    key = lua.eval("function(enc) return enc.map({ [1] = true }) end")(enc)
    assert outcome(lua, H(lua).call(enc.encode, key)) == ("error", "CBOR_KEY", ())
    bad_text = lua.eval('function(enc) return enc.array({ "ok", "\\255" }) end')(enc)
    assert outcome(lua, H(lua).call(enc.encode, bad_text)) == ("error", "CBOR_TEXT", (1,))
    for depth, want in [(64, "ok"), (65, "error")]:
        nested: Any = 0
        for _ in range(depth):
            nested = [nested]
        assert lua_encode(lua, nested)[0] == want
        assert py_outcome(encoding.encode, nested)[0] == want


def lua_decode(lua: Any, data: bytes) -> tuple[Any, ...]:
    enc = mod(lua, "encoding")
    got = outcome(lua, H(lua).call(enc.decode, data))
    if got[0] == "ok":
        return ("ok", from_lua(lua, got[1]))
    return got


def decode_agrees(lua: Any, data: bytes) -> bool:
    """Compare both decoders on `data`; False when the reference rejects non-NFC text."""
    want = py_outcome(encoding.decode, data)
    # §2.4: the Lua runtime checks UTF-8 but not NFC, so it reads on past such text.
    if want[:2] == ("error", "CBOR_NFC"):
        return False
    assert lua_decode(lua, data) == want, data.hex()
    return True


# Each rule of §2.3 broken once: shortest forms, indefinite lengths, reserved
# bytes, tags, floats, simple values, ranges, truncation, trailing bytes,
# UTF-8, keys, duplicates, order, depth (and the deepest accepted nesting).
NON_CANONICAL = [
    *"""
    1817 190017 1a00000017 1b0000000000000017 3817 580141 780161 980100 b801616100
    5f40ff 7f60ff 9f00ff bf616100ff 1c 3d 5e ff c000 d81840 f93c00 fa3f800000
    fb3ff0000000000000 f7 f0 f818 1b0020000000000000 3b001fffffffffffff
    1bffffffffffffffff 3bffffffffffffffff 0000 8000 18 19ff 62c3 61ff 62c0af
    63eda080 64f4908080 820161 a1 a16161 a10101 a2616101616101 a2616201616101
    a26261610161620a a16178811c 9b0020000000000000 bb001fffffffffffff00
    5b0020000000000000
    """.split(),
    "",
    "81" * 64 + "00",
    "81" * 65 + "00",
    "a1616181" * 33 + "00",
]


@pytest.mark.parametrize("hexdata", NON_CANONICAL)
def test_decode_rejections_match_reference(runtime: str, hexdata: str) -> None:
    assert decode_agrees(state(runtime), bytes.fromhex(hexdata))


@given(value=values, data=st.data())
def test_decode_mutations_match_reference(runtime: str, value: Any, data: Any) -> None:
    raw = bytearray(encoding.encode(value))
    action = data.draw(st.sampled_from(["flip", "cut", "insert", "append"]))
    at = data.draw(st.integers(0, len(raw)))
    if action == "flip" and at < len(raw):
        raw[at] = data.draw(st.integers(0, 255))
    elif action == "cut":
        del raw[at:]
    elif action == "insert":
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=9))
    else:
        raw += data.draw(st.binary(min_size=1, max_size=3))
    assume(decode_agrees(state(runtime), bytes(raw)))


@given(raw=st.binary(max_size=30))
def test_decode_random_bytes_match_reference(runtime: str, raw: bytes) -> None:
    assume(decode_agrees(state(runtime), raw))


# -- identity ---------------------------------------------------------------


@given(kind=st.sampled_from([*identity.KINDS, "route", "Policy", ""]), value=values)
def test_identity_matches_reference(runtime: str, kind: str, value: Any) -> None:
    lua = state(runtime)
    got = outcome(lua, H(lua).call(mod(lua, "identity").identity, kind, to_lua(lua, value)))
    assert got == py_outcome(identity.identity, kind, value)


def test_parse_identity(runtime: str) -> None:
    lua = state(runtime)
    parse = mod(lua, "identity").parse_identity
    good = identity.identity("request", {"a": 1})
    assert outcome(lua, H(lua).hexcall(parse, good)) == ("ok", good[7:])
    for bad in [good.upper(), good[:-1], good + "0", "sha256:" + "g" * 64, "", 7]:
        got = outcome(lua, H(lua).hexcall(parse, bad, lua.table("id")))
        assert got == ("error", "ID_SYNTAX", ("id",))
        assert py_outcome(identity.parse_identity, bad, ("id",))[:3] == got


# -- prng -------------------------------------------------------------------

keys = st.binary(min_size=1, max_size=64)
labels = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=16).filter(
    lambda s: "\x00" not in s and len(s.encode()) <= 48
)


@given(key=keys, label=labels, data=st.data())
def test_stream_matches_reference(runtime: str, key: bytes, label: str, data: Any) -> None:
    lua = state(runtime)
    ours = mod(lua, "prng").stream(key, label)
    ref = prng.Stream(key, label)
    for _ in range(data.draw(st.integers(1, 6))):
        step = data.draw(st.sampled_from(["read", "u53", "u32", "below"]))
        if step == "read":
            n = data.draw(st.integers(0, 70))
            assert H(lua).hexcall(ours.read, ours, n) == ("ok", ref.read(n).hex())
        elif step in ("u53", "u32"):
            got = getattr(ours, step)(ours)
            assert got == getattr(ref, step)()
            assert H(lua).mathtype(got) == "integer"
        else:
            n = data.draw(
                st.one_of(
                    st.integers(1, 2**53),
                    st.integers(1, 1000),
                    st.sampled_from([1, 2, 3, 2**31 + 1, 2**32, 2**32 + 1, 2**52 + 1]),
                )
            )
            got = ours.below(ours, n)
            assert got == ref.below(n)
            assert H(lua).mathtype(got) == "integer"


@given(
    salt=st.binary(min_size=30, max_size=34),
    material=st.dictionaries(texts, values, max_size=4),
    label=st.one_of(labels, st.sampled_from(["", "a\x00b", "x" * 48, "x" * 49, "é" * 24])),
    index=st.sampled_from([0, 1, 2**32 - 1, 2**32, -1]),
)
def test_keys_and_blocks_match_reference(
    runtime: str, salt: bytes, material: dict[str, Any], label: str, index: int
) -> None:
    lua = state(runtime)
    p = mod(lua, "prng")

    def hexed(result: tuple[Any, ...]) -> tuple[Any, ...]:
        return ("ok", result[1].hex()) if result[0] == "ok" else result

    got = outcome(lua, H(lua).hexcall(p.call_key, salt, to_lua(lua, material)))
    assert got == hexed(py_outcome(prng.call_key, salt, material))
    got = outcome(lua, H(lua).call(p.seed_commitment, salt))
    assert got == py_outcome(prng.seed_commitment, salt)
    got = outcome(lua, H(lua).hexcall(p.stream_block, salt, label, index))
    assert got == hexed(py_outcome(prng.stream_block, salt, label, index))


def test_prng_rejections(runtime: str) -> None:
    lua = state(runtime)
    p = mod(lua, "prng")
    s = p.stream(b"k", "x")
    for n in [0, -1, 2**53 + 1, 1.0]:
        assert outcome(lua, H(lua).call(s.below, s, n)) == ("error", "PRNG_BOUND", ())
    for key in [b"", b"k" * 65]:
        assert outcome(lua, H(lua).call(p.stream, key, "x")) == ("error", "PRNG_KEY", ())
    empty_map = mod(lua, "encoding").map(lua.table())
    assert outcome(lua, H(lua).call(p.call_key, b"s" * 31, empty_map)) == ("error", "PRNG_KEY", ())
    assert outcome(lua, H(lua).call(p.call_key, b"s" * 32, lua.table())) == (
        "error",
        "PRNG_MATERIAL",
        (),
    )


# -- module hygiene ---------------------------------------------------------


@pytest.mark.parametrize("name", MODULES)
def test_require_leaves_no_global(runtime: str, name: str) -> None:
    lua = new_state(runtime)
    leaked = lua.execute(driver("require_leaks").decode(), name)
    assert leaked == ""


def test_error_codes_mirror_reference(runtime: str) -> None:
    codes = mod(state(runtime), "errors").CODES
    lua_codes = set(codes.keys())
    assert lua_codes <= set(CODES)
    owned = {c for c in CODES if c.split("_")[0] in ("NUM", "CBOR", "ID", "PRNG")}
    assert owned <= lua_codes


def strip_comments_and_strings(source: str) -> str:
    """Lua source with comments, quoted strings and long brackets blanked out."""
    out: list[str] = []
    i = 0
    long_open = re.compile(r"\[(=*)\[")
    while i < len(source):
        if source.startswith("--", i):
            opened = long_open.match(source, i + 2)
            if opened:
                i = source.index("]" + opened.group(1) + "]", opened.end()) + len(opened.group(0))
            else:
                i = source.find("\n", i)
                i = len(source) if i < 0 else i
            continue
        opened = long_open.match(source, i)
        if opened:
            i = source.index("]" + opened.group(1) + "]", opened.end()) + len(opened.group(0))
            out.append('""')
            continue
        c = source[i]
        if c in "\"'":
            j = i + 1
            while source[j] != c:
                j += 2 if source[j] == "\\" else 1
            i = j + 1
            out.append('""')
            continue
        out.append(c)
        i += 1
    return "".join(out)


LUA_SOURCES = sorted((DISPATCH / "genvm_policy").glob("*.lua"))
FORBIDDEN = [
    (re.compile(r"(?<!/)/(?!/)"), "true division"),
    (re.compile(r"\bmath\.random\b"), "math.random"),
    (re.compile(r"\b(os|utf8|debug)\s*\."), "a library GenVM's sandbox lacks"),
    (re.compile(r"<\s*(const|close)\s*>"), "5.4-only syntax"),
]
# The hook's host glue is the one module allowed to read files (the compiled
# policy and the salt); the core stays free of I/O.
IO = re.compile(r"\bio\s*\.")
IO_ALLOWED = {"hook.lua"}
# `pairs` order differs per Lua state: each use must say on its line why the
# order cannot reach any output (`-- order-free: <why>`).
PAIRS = re.compile(r"(?<![\w.])pairs\s*\(")


def test_lint_finds_what_it_looks_for() -> None:
    code = strip_comments_and_strings('local x = a / b -- c / d\nlocal s = "e / f" .. [[g/h]]')
    assert [why for pattern, why in FORBIDDEN if pattern.search(code)] == ["true division"]
    code = strip_comments_and_strings('local q = a // b -- x / y\nlocal t = "/" .. [==[ / ]==]')
    assert not any(pattern.search(code) for pattern, _ in FORBIDDEN)


@pytest.mark.parametrize("path", LUA_SOURCES, ids=lambda p: p.name)
def test_lua_sources_follow_the_sandbox_rules(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    code = strip_comments_and_strings(source)
    rules = list(FORBIDDEN)
    if path.name not in IO_ALLOWED:
        rules.append((IO, "io (only the hook glue reads files)"))
    for pattern, why in rules:
        for match in pattern.finditer(code):
            line = code[: match.start()].count("\n") + 1
            pytest.fail(f"{path.name}:{line}: {why}")
    for number, text in enumerate(source.splitlines(), 1):
        if PAIRS.search(strip_comments_and_strings(text)) and "-- order-free:" not in text:
            pytest.fail(f"{path.name}:{number}: pairs without an `-- order-free:` reason")
    assert {p.stem for p in LUA_SOURCES} >= set(MODULES)


def test_pairs_rule_needs_a_reason() -> None:
    assert PAIRS.search("for k in pairs(t) do")
    assert not PAIRS.search("for i, v in ipairs(t) do")
    assert not PAIRS.search("x.pairs(t)")


@pytest.mark.parametrize("interpreter", STANDALONE_INTERPRETERS)
def test_selftest_standalone(interpreter: str) -> None:
    run = subprocess.run(
        [interpreter, "dispatch/selftest.lua"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.fullmatch(r"\d+ passed, 0 failed", last), last
    assert int(last.split()[0]) >= 100
