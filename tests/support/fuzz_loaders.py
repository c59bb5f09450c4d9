"""Fuzz driver for every input loader and the admission path; also imported by the tests.

Spec: docs/SPEC.md §0, §2, §5, §6, §7 and docs/HOOK.md §3; figures go to
docs/RELIABILITY.md.

Run from the repository root, e.g. `PYTHONPATH=tests .venv/bin/python -m
support.fuzz_loaders --examples 20000` for a long campaign (structured and byte-level mutations
through hypothesis), `--bounds` for the hostile-input table with wall time and
peak memory, `--findings` to replay the open findings (exit 1 while any is open).

Rules:
1. `LOADERS` names each way input enters: bytes of a file in one format, or a
   loaded document handed to the catalog, overlay, admission or request code.
2. `HOSTILE` is the table of bounded-resource cases: each input with the codes
   it may be rejected with; none may be accepted, time out or raise anything else.
3. `FINDINGS` are the smallest inputs that still break the error contract; the
   lead fixes them in the owning module, then the case moves to `HOSTILE`.
"""

from __future__ import annotations

import argparse
import sys
import time
import unicodedata
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.numeric import MAX
from genvm_policy.core.policy import policy_identity
from genvm_policy.core.request import request_from_value
from genvm_policy.loaders.sources import MAX_BYTES, parse_document
from genvm_policy.node.compile import compile_policy, read_compiled
from support.fuzzing import EMITTERS, Tally, mutated, node_configs, overlays, policies, requests

BASE_CONFIG: dict[str, Any] = {
    "backends": {
        "router": {"provider": "openai-compatible", "key": "k", "models": {"m": {}, "n": {}}},
        "gateway": {"provider": "openai-compatible", "key": "k", "models": {"m": {}}},
    }
}
BASE_CATALOG: Catalog = build_catalog(BASE_CONFIG)


def admit_both(doc: Any) -> None:
    """Admit without a catalog and against one, and hash the normal form."""
    policy_identity(admit(doc))
    admit(doc, BASE_CATALOG)


LOADERS: dict[str, Callable[[Any], object]] = {
    "node config": build_catalog,
    "overlay": lambda doc: build_catalog(BASE_CONFIG, doc),
    "policy": admit_both,
    "request": request_from_value,
    "cbor": decode,
    "compiled": read_compiled,
}


def through(fmt: str, loader: Callable[[Any], object]) -> Callable[[bytes], object]:
    """Bytes of a `fmt` file → `parse_document` → `loader`."""
    return lambda data: loader(parse_document(data, fmt))


GOOD_COMPILED = compile_policy(BASE_CATALOG, admit({"select": {"chain": ["router/m"]}}))
STRATEGIES = {
    "node config": node_configs,
    "overlay": overlays,
    "policy": policies,
    "request": requests,
}


def family_inputs(name: str) -> st.SearchStrategy[tuple[Callable[[Any], object], Any]]:
    """(loader, input) pairs for one family: documents, their file bytes, mutated bytes."""
    if name == "cbor":
        docs = st.one_of(node_configs, policies).map(lambda d: encode(_plain(d)))
        data = st.one_of(st.binary(max_size=64), docs.flatmap(mutated))
        return data.map(lambda b: (decode, b))
    if name == "compiled":
        return mutated(GOOD_COMPILED).map(lambda b: (read_compiled, b))
    loader = LOADERS[name]
    fmt = st.sampled_from(sorted(EMITTERS))
    direct = STRATEGIES[name].map(lambda d: (loader, d))
    files = st.tuples(fmt, STRATEGIES[name]).flatmap(
        lambda pair: mutated(EMITTERS[pair[0]](pair[1]).encode()).map(
            lambda b: (through(pair[0], loader), b)
        )
    )
    return st.one_of(direct, files)


def _plain(doc: Any) -> Any:
    """A document `encode` takes: number tokens as plain text, all text in NFC."""
    if isinstance(doc, dict):
        return {unicodedata.normalize("NFC", k): _plain(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_plain(v) for v in doc]
    return unicodedata.normalize("NFC", str(doc)) if isinstance(doc, str) else doc


# -- hostile inputs (rule 2) --------------------------------------------------------

BIG = "1" * 5000


def _compiled_with(key: str, value: Any) -> bytes:
    """`GOOD_COMPILED` with one catalog entry replaced; the identities left as they were."""
    from genvm_policy.node.compile import PREFIX, SUFFIX, lua_string

    body = bytearray()
    raw = GOOD_COMPILED[len(PREFIX % 1) : -len(SUFFIX)]
    i = 0
    while i < len(raw):
        if raw[i] == 0x5C:
            body.append(int(raw[i + 1 : i + 4]))
            i += 4
        else:
            body.append(raw[i])
            i += 1
    tree: Any = decode(bytes(body))
    if key == "tiers":
        tree["catalog"]["tiers"] = value
    else:
        tree["catalog"]["routes"][0][key] = value
    return PREFIX % 1 + lua_string(encode(tree)) + SUFFIX


DEEP = 10_000


def _routes(count: int) -> dict[str, Any]:
    models: dict[str, Any] = {f"m{i:07d}": {} for i in range(count)}
    return {"backends": {"p": {"provider": "x", "key": "k", "models": models}}}


def _routes_file(fmt: str) -> bytes:
    """The most routes that fit under the size limit, in one backend."""
    names = [_base36(i) for i in range((MAX_BYTES - 100) // 12)]
    if fmt == "json":
        body = ",".join(f'"{n}":{{}}' for n in names)
        return ('{"backends":{"p":{"provider":"x","key":"k","models":{' + body + "}}}}").encode()
    body = ",".join(f"{n}: {{}}" for n in names)
    return ("backends: {p: {provider: x, key: k, models: {" + body + "}}}").encode()


def _base36(n: int) -> str:
    """`n` as five base-36 digits behind `m`: short distinct model ids."""
    digits = ""
    for _ in range(5):
        n, d = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + digits
    return "m" + digits


def _bomb() -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines).encode()


def _policy(**slots: Any) -> Callable[[], tuple[Callable[[Any], object], Any]]:
    return lambda: (lambda doc: admit(doc, BASE_CATALOG), slots)


def _nodes(count: int) -> dict[str, Any]:
    """A filter of exactly `count` terms (groups of one `all` and 255 `json`)."""
    groups, rest = divmod(count, 256)
    return {"filter": [{"all": ["json"] * 255}] * groups + ["json"] * rest}


def _nested(depth: int) -> Any:
    term: Any = "json"
    for _ in range(depth):
        term = {"not": term}
    return term


NAME_64K = "x" * 65_536
# Cases the CI profile leaves to `--bounds`: each takes seconds, in parsing the
# 8 MiB file or building the million-entry map (see RELIABILITY.md).
SLOW = (
    "catalog of 10^6 routes (in memory)",
    "json catalog file at the size limit",
    "yaml catalog file at the size limit",
)
HOSTILE: dict[str, tuple[Callable[[], tuple[Callable[[Any], object], Any]], set[str]]] = {
    "yaml alias bomb (10^9 leaves)": (
        lambda: (through("yaml", build_catalog), _bomb()),
        {"SRC_ALIAS"},
    ),
    "file of 8 MiB + 1 byte": (
        lambda: (through("yaml", build_catalog), b"#" * (MAX_BYTES + 1)),
        {"SRC_TOO_LARGE"},
    ),
    "yaml 10,000-deep flow": (
        lambda: (through("yaml", build_catalog), b"[" * DEEP + b"]" * DEEP),
        {"SRC_DEPTH"},
    ),
    "yaml 10,000-deep block": (
        lambda: (through("yaml", build_catalog), b"- " * DEEP + b"x"),
        {"SRC_DEPTH"},
    ),
    "json 10,000-deep array": (
        lambda: (through("json", build_catalog), b"[" * DEEP + b"]" * DEEP),
        {"SRC_DEPTH"},
    ),
    "json 10,000-deep map": (
        lambda: (through("json", build_catalog), b'{"a":' * DEEP + b"1" + b"}" * DEEP),
        {"SRC_DEPTH"},
    ),
    "toml 10,000-deep array": (
        lambda: (through("toml", build_catalog), b"a = " + b"[" * DEEP + b"]" * DEEP),
        {"SRC_DEPTH"},
    ),
    "toml 10,000-deep inline table": (
        lambda: (through("toml", build_catalog), b"a = " + b"{b=" * DEEP + b"1" + b"}" * DEEP),
        {"SRC_DEPTH"},
    ),
    "toml 10,000-part table header": (
        lambda: (through("toml", build_catalog), b"[" + b".".join([b"a"] * DEEP) + b"]\n"),
        {"SRC_DEPTH"},
    ),
    "cbor 10,000-deep array": (lambda: (decode, b"\x81" * DEEP + b"\x00"), {"CBOR_DEPTH"}),
    "cbor 10,000-deep map": (lambda: (decode, b"\xa1\x61a" * DEEP + b"\x00"), {"CBOR_DEPTH"}),
    "cbor array claiming 2^64-1 items": (
        lambda: (decode, b"\x9b" + b"\xff" * 8),
        {"CBOR_TRUNCATED"},
    ),
    "catalog of 10,001 routes": (
        lambda: (build_catalog, _routes(10_001)),
        {"CAT_TOO_MANY"},
    ),
    "catalog of 10^6 routes (in memory)": (
        lambda: (build_catalog, _routes(1_000_000)),
        {"CAT_TOO_MANY"},
    ),
    "json catalog file at the size limit": (
        lambda: (through("json", build_catalog), _routes_file("json")),
        {"CAT_TOO_MANY"},
    ),
    "yaml catalog file at the size limit": (
        lambda: (through("yaml", build_catalog), _routes_file("yaml")),
        {"CAT_TOO_MANY"},
    ),
    "64 KiB model id": (
        lambda: (
            build_catalog,
            {"backends": {"p": {"provider": "x", "key": "k", "models": {NAME_64K: {}}}}},
        ),
        {"CAT_NAME"},
    ),
    "64 KiB route in a policy": (_policy(select={"chain": ["router/" + NAME_64K]}), {"POL_ROUTE"}),
    "policy of 1025 terms": (_policy(**_nodes(1024)), {"POL_LIMIT"}),
    "policy nested 17 deep": (_policy(filter=_nested(17)), {"POL_LIMIT"}),
    "policy list of 257 items": (_policy(filter={"model_in": ["m"] * 257}), {"POL_LIMIT"}),
    "number text of 65 characters": (_policy(max_attempts="1" + "0" * 64), {"NUM_SYNTAX"}),
    "integer token of 4,000 digits": (_policy(max_attempts="9" * 4000), {"NUM_SYNTAX"}),
    "priority MAX + 1": (
        lambda: (
            build_catalog,
            {
                "backends": {
                    "p": {
                        "provider": "x",
                        "key": "k",
                        "meta": {"priority": MAX + 1},
                        "models": {"m": {}},
                    }
                }
            },
        ),
        {"CAT_INTEGER"},
    ),
    "fixed F1: yaml integer token over 4300 digits in meta.priority": (
        lambda: (
            through("yaml", build_catalog),
            b"backends: {p: {provider: x, key: k, meta: {priority: %s}, models: {m: {}}}}"
            % BIG.encode(),
        ),
        {"CAT_INTEGER"},
    ),
    "fixed F2: toml integer over 4300 digits": (
        lambda: (through("toml", LOADERS["overlay"]), f"v = {BIG}".encode()),
        {"SRC_SYNTAX"},
    ),
    "fixed F3: compiled catalog with `tiers` an integer": (
        lambda: (read_compiled, _compiled_with("tiers", 5)),
        {"HOOK_VALUE"},
    ),
    "fixed F4: compiled route with `provider` an array": (
        lambda: (read_compiled, _compiled_with("provider", ["router"])),
        {"HOOK_VALUE"},
    ),
    "fixed F6: model id holding a line break": (
        lambda: (
            build_catalog,
            {"backends": {"p": {"provider": "x", "key": "k", "models": {"a\nb": {}}}}},
        ),
        {"CAT_NAME"},
    ),
    "fixed F7: non-NFC policy text, admitted without a catalog": (
        lambda: (admit, {"filter": {"model_in": ["e\u0301"]}}),
        {"POL_NFC"},
    ),
}


# -- open findings (rule 3) ----------------------------------------------------------

# F1-F7 of RELIABILITY.md are fixed; their inputs now sit in `HOSTILE` (the
# `fixed F…` rows) and in the checks that closed them (tests/hardening/test_source_limits.py,
# test_compiled_values.py, tests/authoring/test_policy_nfc.py). A new finding goes here.
FINDINGS: dict[str, tuple[Callable[[Any], object], Any]] = {}


def finding_case(name: str) -> tuple[Callable[[Any], object], Any]:
    """The loader and input of one open finding."""
    return FINDINGS[name]


# -- the campaign ----------------------------------------------------------------------


def _family_run(name: str, tally: Tally, examples: int) -> Callable[[], None]:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(family_inputs(name))
    def run(case: tuple[Callable[[Any], object], Any]) -> None:
        tally.run(*case)

    return run


def campaign(examples: int) -> dict[str, Tally]:
    """Run every family for `examples` inputs each; return the figures."""
    tallies = {}
    for name in LOADERS:
        tallies[name] = Tally(name)
        _family_run(name, tallies[name], examples)()
    return tallies


def _row(t: Tally) -> str:
    codes = ", ".join(sorted(t.codes))
    return (
        f"| {t.name} | {t.tried} | {t.accepted} | {len(t.codes)} | "
        f"{t.slowest_s // 1000} µs ({t.slowest_code}) | {len(t.findings)} | {codes} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the campaign, the hostile table or the open findings; print markdown figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="inputs per loader family")
    parser.add_argument("--bounds", action="store_true", help="run the hostile-input table")
    parser.add_argument("--findings", action="store_true", help="replay the open findings")
    args = parser.parse_args(argv)
    if args.findings:
        open_ = 0
        for name in FINDINGS:
            t = Tally(name)
            t.run(*finding_case(name), strict=True)
            open_ += bool(t.findings)
            print(f"- {name}: {t.findings[0] if t.findings else 'fixed: ' + ', '.join(t.codes)}")
        return 1 if open_ else 0
    if args.bounds:
        print("| case | code | wall time | peak memory |\n|---|---|---|---|")
        bad = 0
        for name, (build, allowed) in HOSTILE.items():
            t = Tally(name)
            code = t.run(*build(), memory=True)
            bad += code not in allowed
            print(
                f"| {name} | {code} | {t.slowest_s // 1_000_000} ms | {t.peak_bytes // 1024} KiB |"
            )
        return 1 if bad else 0
    start = time.monotonic_ns()
    tallies = campaign(args.examples)
    print("| loader | inputs | accepted | distinct codes | slowest rejection | findings | codes |")
    print("|---|---|---|---|---|---|---|")
    for t in tallies.values():
        print(_row(t))
    print(f"\nwall time {(time.monotonic_ns() - start) // 10**9} s")
    for t in tallies.values():
        for f in sorted(set(t.findings))[:5]:
            print(f"finding in {t.name}: {f}")
    return 1 if any(t.findings for t in tallies.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
