"""Shared strategies, emitters and mutators for the hardening suites and the fuzz driver.

Spec: docs/SPEC.md §0 (errors), §2 (encoding), §5.1 (source files), §5.2-5.4
(node config, overlay), §6 (request), §7 (policy); docs/RELIABILITY.md reports
what these find.

Rules:
1. Strategies build loaded documents (maps with text keys, lists, text,
   `NumberText`, booleans, null) biased toward the edges the spec pins:
   every integer bound ±1, the 64-character number limit, names at 256 bytes,
   control characters, non-NFC and look-alike text.
2. Emitters turn a document into YAML (block or flow), JSON or TOML bytes with
   the key order given, so order invariance can be tested; byte mutators then
   damage those bytes the way hand edits and hostile files do.
3. `outcome` runs one loader on one input and returns the error code or `ok`;
   any exception other than a well-formed `PolicyError` is re-raised as a
   `Finding`, so a test or a campaign can never count a traceback as a pass.
"""

from __future__ import annotations

import json
import re
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from genvm_policy.core.errors import CODES, PolicyError
from genvm_policy.core.numeric import MAX, NumberText
from genvm_policy.core.policy import CLASSES, OPS, PARAMS, TEXT_FILTERS

# -- figures ---------------------------------------------------------------------


class Finding(AssertionError):
    """A loader answered an input with something other than acceptance or a `PolicyError`."""


def check_error(err: PolicyError, *, strict: bool = False) -> None:
    """The error contract of SPEC §0: registered code, a path of segments, one plain line.

    User input quoted in backticks may itself hold a line break; only `strict`
    counts that against the message (an open finding, see RELIABILITY.md).
    """
    if err.code not in CODES:
        raise Finding(f"unregistered code {err.code}")
    if not all(isinstance(seg, str | int) and not isinstance(seg, bool) for seg in err.path):
        raise Finding(f"{err.code}: path {err.path!r} holds a segment that is not text or int")
    shown = err.message if strict else re.sub(r"`[^`]*`", "``", err.message, flags=re.S)
    if not err.message or "\n" in shown or err.message[:1].isupper():
        raise Finding(f"{err.code}: message is not one plain lower-case line: {err.message!r}")
    if "Traceback" in err.message or "Error(" in err.message:
        raise Finding(f"{err.code}: message leaks a Python error: {err.message!r}")


def outcome(loader: Callable[[Any], object], data: Any, *, strict: bool = False) -> str:
    """Run `loader(data)`: `ok`, or the code of the well-formed `PolicyError` it raised."""
    try:
        loader(data)
    except PolicyError as err:
        check_error(err, strict=strict)
        return err.code
    except RecursionError as err:
        raise Finding(f"recursion error: {err}") from err
    except Exception as err:  # any other exception is exactly what this hunts
        raise Finding(f"{type(err).__name__}: {err}") from err
    return "ok"


@dataclass
class Tally:
    """Figures for one loader: inputs tried, codes seen, the slowest rejection."""

    name: str
    tried: int = 0
    accepted: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    slowest_s: int = 0  # nanoseconds of the slowest rejection (an integer, no floats)
    slowest_code: str = ""
    peak_bytes: int = 0
    findings: list[str] = field(default_factory=list)

    def run(
        self,
        loader: Callable[[Any], object],
        data: Any,
        *,
        memory: bool = False,
        strict: bool = False,
    ) -> str:
        """Run one input, record its figures and return its outcome (findings kept too)."""
        if memory:
            tracemalloc.start()
        start = time.perf_counter_ns()
        try:
            code = outcome(loader, data, strict=strict)
        except Finding as err:
            self.findings.append(str(err)[:300])
            code = "FINDING"
        finally:
            spent = time.perf_counter_ns() - start
            if memory:
                self.peak_bytes = max(self.peak_bytes, tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
        self.tried += 1
        if code == "ok":
            self.accepted += 1
        else:
            self.codes[code] = self.codes.get(code, 0) + 1
            if spent > self.slowest_s:
                self.slowest_s, self.slowest_code = spent, code
        return code


# -- leaves --------------------------------------------------------------------

# Integers at every bound the spec pins, and one beyond each.
BOUNDS = sorted(
    {
        b + d
        for b in (
            0,
            1,
            9,
            16,
            64,
            256,
            1000,
            2000,
            4000,
            60000,
            10**6,
            2**20,
            2**31,
            2**32,
            10**12,
            MAX,
        )
        for d in (-1, 0, 1)
    }
)
edge_ints = st.sampled_from(BOUNDS).flatmap(lambda b: st.sampled_from([b, -b]))
decimal_texts = st.builds(
    lambda sign, whole, frac, exp: f"{sign}{whole}{frac}{exp}",
    st.sampled_from(["", "-", "+"]),
    st.sampled_from(["0", "1", "15", "00", "9007199254740991", "9" * 63, "9" * 64]),
    st.sampled_from(["", ".", ".15", ".150", ".0000000001", ".5"]),
    st.sampled_from(["", "e-1", "E+2", "e64", "e65", "e-65", "e"]),
)
number_tokens = st.one_of(
    edge_ints.map(lambda n: NumberText(str(n))),
    decimal_texts.map(NumberText),
    st.sampled_from(["0x1F", "0o17", "1_000", ".inf", "NaN", "0.1e1"]).map(NumberText),
)
# Look-alikes (Cyrillic `а`, Greek `ο`, fullwidth `ｇ`), non-NFC `e` + U+0301,
# zero-width and bidi controls, C0/C1 controls, NUL and a lone `/`.
TRICKY = [
    "gpt-4o",
    "gpt-4о",
    "ｇｐｔ",
    "e\u0301",
    "\u00e9",
    "a\u200bb",
    "\u202egpt",
    "a\x00b",
    "a\x85b",
    "a\tb",
    "",
    "/",
    "a/b",
    "${ENV[KEY]}",
    "x" * 256,
    "é" * 128,
    "x" * 257,
]
texts = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))
NAMES = [*OPS, "pin", "provider_not_in", "route_not_in", "nope", "Argmax", ""]
leaves = st.one_of(st.none(), st.booleans(), number_tokens, texts, st.sampled_from(NAMES))


def documents(keys: st.SearchStrategy[str] = texts, depth: int = 6) -> st.SearchStrategy[Any]:
    """Loaded-document trees of limited size, with keys drawn from `keys`."""
    return st.recursive(
        leaves,
        lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=4)),
        max_leaves=depth * 4,
    )


# -- structured inputs -----------------------------------------------------------

model_specs = st.fixed_dictionaries(
    {},
    optional={
        "enabled": st.one_of(st.booleans(), leaves),
        "supports_json": st.one_of(st.booleans(), leaves),
        "supports_image": st.booleans(),
        "use_max_completion_tokens": st.booleans(),
        "meta": st.one_of(
            leaves,
            st.fixed_dictionaries(
                {
                    "greybox": st.one_of(
                        leaves,
                        st.dictionaries(
                            st.sampled_from(["text", "image", "x"]),
                            st.one_of(edge_ints, leaves),
                            max_size=2,
                        ),
                    )
                }
            ),
        ),
    },
)
backends = st.fixed_dictionaries(
    {
        "provider": st.one_of(st.just("openai-compatible"), leaves),
        "models": st.one_of(st.dictionaries(texts, model_specs, max_size=3), leaves),
    },
    optional={
        "enabled": st.one_of(st.booleans(), leaves),
        "key": st.one_of(st.just("${ENV[KEY]}"), texts, leaves),
        "meta": st.one_of(
            leaves, st.fixed_dictionaries({"priority": st.one_of(edge_ints, leaves)})
        ),
        "host": texts,
    },
)
node_configs = st.one_of(
    st.fixed_dictionaries({"backends": st.dictionaries(texts, backends, max_size=3)}),
    documents(),
)
facts = st.fixed_dictionaries(
    {},
    optional={
        k: st.one_of(number_tokens, edge_ints, leaves) for k in ("price_in", "price_out", "context")
    }
    | {
        "tier": st.sampled_from(["basic", "premium", "gold", ""]),
        "family": texts,
        "has_tee": st.booleans(),
        "fields": st.dictionaries(st.sampled_from(["quality", "q2"]), number_tokens, max_size=2),
    },
)
overlays = st.one_of(
    st.fixed_dictionaries(
        {"version": st.sampled_from([NumberText("1"), 1, NumberText("2"), "1"])},
        optional={
            "tiers": st.lists(
                st.sampled_from(["basic", "premium", "gold", "Gold", "", "x" * 33]), max_size=4
            ),
            "default_tier": st.sampled_from(["basic", "gold"]),
            "fields": st.dictionaries(
                st.sampled_from(["quality", "q2", "price_in", "Bad"]),
                st.fixed_dictionaries(
                    {"min": number_tokens, "max": number_tokens}, optional={"scale": edge_ints}
                ),
                max_size=2,
            ),
            "models": st.dictionaries(texts, facts, max_size=2),
            "routes": st.dictionaries(texts, st.dictionaries(texts, facts, max_size=2), max_size=2),
            "extra": leaves,
        },
    ),
    documents(),
)
requests = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "entry": st.one_of(st.sampled_from(["prompt", "EqComparative", "Prompt"]), leaves),
            "format": st.one_of(st.sampled_from(["text", "json", "bool"]), leaves),
            "images": st.one_of(edge_ints.map(lambda n: NumberText(str(n))), leaves),
            "prompt_bytes": st.one_of(edge_ints.map(lambda n: NumberText(str(n))), leaves),
            "temperature": st.one_of(number_tokens, leaves),
            "max_tokens": st.one_of(edge_ints.map(lambda n: NumberText(str(n))), leaves),
            "seed": leaves,
        },
    ),
    documents(),
)


def _op(kids: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    args = st.one_of(
        kids,
        st.lists(kids, max_size=3),
        st.fixed_dictionaries(
            {},
            optional={
                k: kids
                for k in (
                    "if",
                    "then",
                    "of",
                    "to",
                    "by",
                    "div",
                    "k",
                    "spread",
                    "attempts",
                    "backoff_ms",
                    "routes",
                    "default",
                    "name",
                )
            },
        ),
        st.dictionaries(
            st.sampled_from([*PARAMS, "price_in", "quality", "top_p"]),
            st.one_of(number_tokens, st.lists(number_tokens, max_size=3)),
        ),
    )
    return st.one_of(
        st.sampled_from(NAMES),
        st.dictionaries(st.sampled_from(NAMES), args, min_size=1, max_size=2),
    )


policy_terms = st.recursive(
    st.one_of(st.sampled_from([*NAMES, *TEXT_FILTERS, "router/m", "a/b/c"]), number_tokens),
    _op,
    max_leaves=12,
)
policies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "version": st.sampled_from([NumberText("1"), NumberText("2")]),
            "filter": st.one_of(policy_terms, st.lists(policy_terms, max_size=3)),
            "score": policy_terms,
            "select": policy_terms,
            "mutate": st.lists(policy_terms, max_size=3),
            "on_failure": st.dictionaries(
                st.sampled_from([*CLASSES, "teapot"]), policy_terms, max_size=3
            ),
            "max_attempts": st.one_of(edge_ints.map(lambda n: NumberText(str(n))), leaves),
        },
    ),
    documents(),
)

# -- emitters ------------------------------------------------------------------


def to_json(doc: Any) -> str:
    """JSON text; number tokens are written as themselves (so `+1` or `0x1F` stays broken)."""
    if isinstance(doc, NumberText):
        return str(doc)
    if isinstance(doc, dict):
        return (
            "{"
            + ", ".join(
                f"{json.dumps(k, ensure_ascii=False)}: {to_json(v)}" for k, v in doc.items()
            )
            + "}"
        )
    if isinstance(doc, list):
        return "[" + ", ".join(to_json(v) for v in doc) + "]"
    return json.dumps(doc, ensure_ascii=False)


def to_yaml(doc: Any, indent: int = 0) -> str:
    """Block-style YAML with the given key order; scalars in flow (JSON) form."""
    pad = " " * indent
    if isinstance(doc, dict) and doc:
        lines = []
        for k, v in doc.items():
            key = json.dumps(k, ensure_ascii=False)
            if isinstance(v, dict | list) and v:
                lines.append(f"{pad}{key}:\n{to_yaml(v, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {to_json(v)}")
        return "\n".join(lines)
    if isinstance(doc, list) and doc:
        return "\n".join(
            f"{pad}-\n{to_yaml(v, indent + 2)}"
            if isinstance(v, dict | list) and v
            else f"{pad}- {to_json(v)}"
            for v in doc
        )
    return pad + to_json(doc)


def to_toml(doc: Any) -> str:
    """TOML: top-level `key = value` lines with inline tables; null becomes `""`."""

    def inline(v: Any) -> str:
        if v is None:
            return '""'
        if isinstance(v, dict):
            return (
                "{"
                + ", ".join(
                    f"{json.dumps(k, ensure_ascii=False)} = {inline(x)}" for k, x in v.items()
                )
                + "}"
            )
        if isinstance(v, list):
            return "[" + ", ".join(inline(x) for x in v) + "]"
        return to_json(v)

    if not isinstance(doc, dict):
        return "value = " + inline(doc)
    return "\n".join(f"{json.dumps(k, ensure_ascii=False)} = {inline(v)}" for k, v in doc.items())


EMITTERS: dict[str, Callable[[Any], str]] = {"yaml": to_yaml, "json": to_json, "toml": to_toml}

# -- byte mutators ---------------------------------------------------------------

SNIPPETS = [
    b"&a ",
    b"*a",
    b"!!python/object ",
    b"!!binary ",
    b"\x00",
    b"\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"[" * 70,
    b"{" * 70,
    b"\\ud800",
    b"---\n",
    b"\t",
    b": ",
    b"- ",
    b'"',
    b"'",
    b"#",
    b"\n",
    b"1" * 80,
    b".nan",
    b"-.inf",
    b"? ",
]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` after up to four byte-level edits: flip, delete, insert a snippet, splice."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(out)))
        kind = draw(st.integers(0, 3))
        if kind == 0 and at < len(out):
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == 1:
            del out[at : at + draw(st.integers(1, 8))]
        elif kind == 2:
            out[at:at] = draw(st.sampled_from(SNIPPETS))
        else:
            start = draw(st.integers(0, len(out)))
            out[at:at] = out[start : start + draw(st.integers(1, 16))]
    return bytes(out)
