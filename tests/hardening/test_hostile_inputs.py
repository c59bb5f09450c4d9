"""Hostile input at every loader: the documented error or acceptance, in bounded time and memory.

Spec: docs/SPEC.md §0 (errors), §1.4 (number text), §2.5 (decoder), §5.1-5.4
(files, node config, overlay), §6 (request), §7.4 (admission limits) and
docs/HOOK.md §3 (compiled policy). Figures: docs/RELIABILITY.md.

Rules checked:
1. Every input, structured or byte-mutated, yields `ok` or a well-formed
   `PolicyError` (registered code, path of segments, one plain line).
2. Each hostile case of `HOSTILE` is rejected with its code within 10 s and
   64 MiB of traced memory; a 100 MB file is refused before it is read.
3. Every integer bound is accepted at the bound and rejected one past it.
4. Names are bytes: look-alikes are distinct routes, non-NFC text, controls
   and NUL are `CAT_NAME`, invalid UTF-8 is `SRC_ENCODING` in every format.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from support.fuzz_loaders import BASE_CATALOG, HOSTILE, LOADERS, SLOW, family_inputs, through
from support.fuzzing import outcome

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.encoding import decode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.numeric import MAX
from genvm_policy.core.policy import LIMITS
from genvm_policy.core.request import request_from_value
from genvm_policy.loaders.sources import MAX_BYTES, load_document, parse_document

# -- rule 1: fuzzing every family ------------------------------------------------


@pytest.mark.parametrize("family", sorted(LOADERS))
def test_fuzzed_inputs_get_a_documented_answer(family: str) -> None:
    @settings(max_examples=150)
    @given(family_inputs(family))
    def run(case: tuple[Callable[[Any], object], Any]) -> None:
        outcome(*case)

    run()


# -- rule 2: hostile inputs in bounded time and memory --------------------------------


@pytest.mark.parametrize("name", [n for n in HOSTILE if n not in SLOW])
def test_hostile_input_is_rejected_in_bounded_time_and_memory(name: str) -> None:
    build, allowed = HOSTILE[name]
    loader, data = build()
    tracemalloc.start()
    start = time.perf_counter_ns()
    try:
        code = outcome(loader, data)
    finally:
        spent = time.perf_counter_ns() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert code in allowed
    assert spent < 10 * 10**9, f"{name} took {spent // 10**6} ms"
    assert peak < 64 * 2**20, f"{name} peaked at {peak // 2**20} MiB"


def test_a_100_mb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "node.yaml"
    with open(big, "wb") as handle:
        handle.truncate(100 * 2**20)  # sparse: costs no disk
    tracemalloc.start()
    try:
        with pytest.raises(PolicyError) as err:
            load_document(big, what="node config")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.code == "SRC_TOO_LARGE"
    # Only the first MAX_BYTES + 1 bytes may ever be held.
    assert peak < MAX_BYTES + 2**20


def test_the_size_limit_is_exact() -> None:
    at_limit = b"#" * MAX_BYTES
    assert parse_document(at_limit, "yaml") is None
    with pytest.raises(PolicyError) as err:
        parse_document(at_limit + b"#", "yaml")
    assert err.value.code == "SRC_TOO_LARGE"


# -- rule 3: every integer bound, ±1 -------------------------------------------------


def _config(models: dict[str, Any], meta: Any = None) -> dict[str, Any]:
    backend: dict[str, Any] = {"provider": "x", "key": "k", "models": models}
    if meta is not None:
        backend["meta"] = meta
    return {"backends": {"p": backend}}


def _policy(doc: dict[str, Any]) -> Callable[[], object]:
    return lambda: admit(doc, BASE_CATALOG)


def _bound(
    name: str,
    make: Callable[[int], Callable[[], object]],
    lo: int,
    hi: int,
    code: str,
    below: str | None = "",
) -> list[Any]:
    """`lo` and `hi` accepted; `hi + 1` rejected with `code`, `lo - 1` with `below`.

    `below` defaults to `code`; None leaves out the case under `lo` where it has
    no meaning (a nesting depth or a term count below zero).
    """
    cases = [
        pytest.param(make(lo), "ok", id=f"{name}={lo}"),
        pytest.param(make(hi), "ok", id=f"{name}={hi}"),
        pytest.param(make(hi + 1), code, id=f"{name}={hi + 1}"),
    ]
    if below is not None:
        cases.append(pytest.param(make(lo - 1), below or code, id=f"{name}={lo - 1}"))
    return cases


def _request(field: str) -> Callable[[int], Callable[[], object]]:
    return lambda n: lambda: request_from_value({field: str(n)})


def _retry(key: str) -> Callable[[int], Callable[[], object]]:
    def make(n: int) -> Callable[[], object]:
        retry = {"attempts": 1, key: str(n)} if key != "attempts" else {"attempts": str(n)}
        return _policy({"on_failure": {"server": {"retry": retry}}})

    return make


def _nodes(n: int) -> Callable[[], object]:
    # `select` defaults to `argmax`, itself one term: n - 1 filter terms plus it,
    # as groups of one `all` and 255 `json`, then one smaller group or a `json`.
    groups, rest = divmod(n - 1, 256)
    tail = [] if rest == 0 else ["json"] if rest == 1 else [{"all": ["json"] * (rest - 1)}]
    return _policy({"filter": [{"all": ["json"] * 255}] * groups + tail})


def _depth(n: int) -> Callable[[], object]:
    term: Any = "json"
    for _ in range(n):
        term = {"not": term}
    return _policy({"filter": term})


BOUNDS = [
    *_bound("images", _request("images"), 0, 16, "NUM_RANGE"),
    *_bound("prompt_bytes", _request("prompt_bytes"), 0, 2**32 - 1, "NUM_RANGE"),
    *_bound("max_tokens", _request("max_tokens"), 1, 2**32 - 1, "NUM_RANGE"),
    *_bound("temperature_milli", lambda n: lambda: request_from_value(
        {"temperature": f"{n}e-3"}), 0, 2000, "NUM_RANGE"),
    *_bound("max_attempts", lambda n: _policy({"max_attempts": str(n)}), 1,
            LIMITS["max_attempts"], "NUM_RANGE"),
    *_bound("retry_attempts", _retry("attempts"), 1, 5, "NUM_RANGE"),
    *_bound("backoff_ms", _retry("backoff_ms"), 0, 60000, "NUM_RANGE"),
    *_bound("top_k", lambda n: _policy({"select": {"top_k": {"k": str(n)}}}), 1, 64, "NUM_RANGE"),
    *_bound("spread", lambda n: _policy({"select": {"sample": str(n)}}), 0, 2**20, "NUM_RANGE"),
    *_bound("scale_div", lambda n: _policy({"score": {"scale": {"div": str(n), "of": 1}}}),
            1, 10**6, "NUM_RANGE"),
    *_bound("scale_by", lambda n: _policy({"score": {"scale": {"by": str(n), "of": 1}}}),
            -(10**6), 10**6, "NUM_RANGE"),
    *_bound("normalize_to", lambda n: _policy({"score": {"normalize": {"to": str(n), "of": 1}}}),
            1, 10**6, "NUM_RANGE"),
    *_bound("set_temperature", lambda n: _policy({"mutate": [{"set": {"temperature": f"{n}e-3"}}]}),
            0, 2000, "NUM_RANGE"),
    *_bound("set_max_tokens", lambda n: _policy({"mutate": [{"set": {"max_tokens": str(n)}}]}),
            1, 2**32 - 1, "NUM_RANGE"),
    *_bound("list_items", lambda n: _policy({"filter": {"model_in": ["m"] * n}}),
            1, 256, "POL_LIMIT", "POL_ARITY"),
    *_bound("const", lambda n: _policy({"score": {"const": str(n)}}), -MAX, MAX, "NUM_RANGE"),
    *_bound("priority", lambda n: lambda: build_catalog(_config({"m": {}}, {"priority": n})),
            -MAX, MAX, "CAT_INTEGER"),
    *_bound("greybox", lambda n: lambda: build_catalog(
        _config({"m": {"meta": {"greybox": {"text": n}}}})), 0, MAX, "CAT_INTEGER"),
    *_bound("context", lambda n: lambda: build_catalog(
        _config({"m": {}}), {"version": 1, "models": {"m": {"context": str(n)}}}), 1, MAX,
        "NUM_RANGE"),
    *_bound("price", lambda n: lambda: build_catalog(
        _config({"m": {}}), {"version": 1, "models": {"m": {"price_in": f"{n}e-6"}}}), 0, MAX,
        "NUM_RANGE"),
    *_bound("cbor_int", lambda n: lambda: decode(_cbor_int(n)), -MAX, MAX, "CBOR_RANGE"),
    *_bound("exponent", lambda n: lambda: request_from_value({"images": f"0e{n}"}), -64, 64,
            "NUM_RANGE"),
    *_bound("routes", lambda n: lambda: build_catalog(
        _config({f"m{i}": {} for i in range(max(n, 0))})), 1, 10_000, "CAT_TOO_MANY", "CAT_EMPTY"),
    *_bound("name_bytes", lambda n: lambda: build_catalog(_config({_name(n): {}})), 1, 256,
            "CAT_NAME"),
    *_bound("depth", _depth, 0, 16, "POL_LIMIT", None),
    *_bound("terms", _nodes, 1, 1024, "POL_LIMIT", None),
]  # fmt: skip  # a table laid out by hand in rows


def _name(size: int) -> str:
    """A model id of `size` UTF-8 bytes, mostly two-byte `é`, so bytes and characters differ."""
    return "é" * (size // 2) + "x" * (size % 2)


def _cbor_int(n: int) -> bytes:
    if n >= 0:
        return b"\x1b" + n.to_bytes(8, "big")
    return b"\x3b" + (-1 - n).to_bytes(8, "big")


@pytest.mark.parametrize(("run", "code"), BOUNDS)
def test_every_bound_holds_at_the_edge_and_breaks_one_past(
    run: Callable[[], object], code: str
) -> None:
    assert outcome(lambda _: run(), None) == code


def test_the_last_route_past_the_limit_is_too_many() -> None:
    with pytest.raises(PolicyError) as err:
        build_catalog(_config({f"m{i}": {} for i in range(10_001)}))
    assert (err.value.code, err.value.path) == ("CAT_TOO_MANY", ("backends",))


# -- rule 4: names are bytes -----------------------------------------------------------


def test_look_alike_ids_are_distinct_routes_in_bytes_order() -> None:
    latin, cyrillic, fullwidth = "gpt-4o", "gpt-4\u043e", "\uff47pt-4o"
    catalog = build_catalog(_config({cyrillic: {}, fullwidth: {}, latin: {}}))
    assert [r.model for r in catalog.routes] == [latin, cyrillic, fullwidth]
    pinned = admit({"select": {"chain": [f"p/{latin}"]}}, catalog)
    assert pinned.select == ["chain", [["p", latin]]]
    with pytest.raises(PolicyError) as err:
        admit({"select": {"chain": ["p/gpt-4\u03bf"]}}, catalog)  # Greek omicron: not offered
    assert err.value.code == "POL_ROUTE"


@pytest.mark.parametrize(
    "name", ["e\u0301", "A\u030a", "a\x00b", "a\x7fb", "a\x85b", "line\nbreak", "", "\t"]
)
def test_non_nfc_and_control_names_are_refused(name: str) -> None:
    with pytest.raises(PolicyError) as err:
        build_catalog(_config({name: {}}))
    assert (err.value.code, err.value.path) == ("CAT_NAME", ("backends", "p", "models", name))


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
@pytest.mark.parametrize("bad", [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])
def test_invalid_utf8_is_an_encoding_error_in_every_format(fmt: str, bad: bytes) -> None:
    data = {"yaml": b"a: '%s'", "json": b'{"a": "%s"}', "toml": b'a = "%s"'}[fmt] % bad
    assert outcome(lambda d: parse_document(d, fmt), data) == "SRC_ENCODING"


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_a_raw_nul_byte_is_a_syntax_error(fmt: str) -> None:
    data = {"yaml": b"a: 'x\x00'", "json": b'{"a": "x\x00"}', "toml": b'a = "x\x00"'}[fmt]
    assert outcome(lambda d: parse_document(d, fmt), data) == "SRC_SYNTAX"


def test_an_escaped_nul_in_a_model_id_is_a_name_error() -> None:
    data = b'{"backends": {"p": {"provider": "x", "key": "k", "models": {"a\\u0000b": {}}}}}'
    assert outcome(through("json", build_catalog), data) == "CAT_NAME"
