"""The Python side of the engine comparisons, and the generated inputs they share.

Spec: docs/SPEC.md §5-§10. `blob` packs one decision's inputs as canonical CBOR for
the engine driver (`lua/engine.lua`); `py_report` and `py_cascade` give the bytes
the reference produces for the same inputs, a registered error as (code, path).
The strategies draw catalogs (`rows`), requests, seeds, policy documents (`DOCS`,
whose route names are placeholders for `resolve`) and scripted failures.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from genvm_policy.authoring.admission import admit
from genvm_policy.core.cascade import Failure, Success, run
from genvm_policy.core.catalog import Catalog, catalog_value
from genvm_policy.core.decision import Attempt, decide, decision_report
from genvm_policy.core.encoding import encode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import CLASSES, Policy
from genvm_policy.core.request import ENTRIES, FORMATS, Request, make_request, request_value
from support.policies import catalog

__all__ = [
    "DOCS",
    "blob",
    "cases",
    "failures",
    "py_cascade",
    "py_report",
    "requests",
    "resolve",
    "rows",
    "seeds",
]


def guarded(f: Any) -> bytes:
    """`f()` as canonical CBOR; a registered error as {"error": [code, path]}."""
    try:
        return encode(f())
    except PolicyError as err:
        return encode({"error": [err.code, list(err.path)]})


def blob(cat: Catalog, policy: Policy, req: Request, seed: bytes, **extra: Any) -> bytes:
    """One decision's inputs (and `extra` fields) as the engine driver reads them."""
    return encode(
        {
            "catalog": catalog_value(cat),
            "policy": policy.value,
            "request": request_value(req),
            "seed": seed,
            **extra,
        }
    )


def py_report(cat: Catalog, policy: Policy, req: Request, seed: bytes) -> bytes:
    """The reference's decision report bytes: what `D.report` must return."""
    return guarded(lambda: decision_report(decide(cat, policy, req, seed)))


def py_cascade(
    cat: Catalog, policy: Policy, req: Request, seed: bytes, outcomes: list[list[Any]]
) -> bytes:
    """The reference's cascade over `outcomes` (then success): what `D.cascade` must return."""

    def go() -> dict[str, Any]:
        d = decide(cat, policy, req, seed)
        waits: list[int] = []
        count = 0

        def call(a: Attempt) -> Success | Failure:
            nonlocal count
            count += 1
            if count > len(outcomes):
                return Success(f"{a.provider}/{a.model}")
            kind, status = outcomes[count - 1]
            return Failure(kind, status)

        out = run(d, call, waits.append)
        return {
            "ok": out.ok,
            "data": out.data,
            "error_class": out.error_class,
            "code": out.code,
            "waits": waits,
            "trace": [[s.attempt, s.provider, s.model, s.result, s.action] for s in out.trace],
        }

    return guarded(go)


# -- generated inputs --------------------------------------------------------
# Names whose UTF-8 byte order differs from common collations (case, accents,
# fullwidth and CJK letters), plus a prefix pair.
NAMES = [
    "alpha",
    "Alpha",
    "zeta",
    "Zulu",
    "éclair",
    "Äpfel",
    "ß",
    "ａ",
    "模型",
    "a",
    "a-b",
    "gpt/4o",
]
rows = st.lists(
    st.tuples(
        st.sampled_from(NAMES[:8]),
        st.sampled_from(NAMES),
        st.booleans(),
        st.booleans(),
        st.none() | st.integers(0, 3),
        st.none() | st.integers(0, 3),
        st.none() | st.sampled_from(["0", "0.15", "1", "2.5", "0.15"]),
        st.sampled_from(["basic", "standard", "premium"]),
        st.integers(0, 100),
        st.booleans(),
    ),
    min_size=1,
    max_size=9,
    unique_by=lambda r: (r[0], r[1]),
)
requests = st.builds(
    lambda entry, fmt, images, temp, tokens: make_request(
        entry, fmt if entry == "prompt" else None, images, 0, temp, tokens
    ),
    st.sampled_from(ENTRIES),
    st.sampled_from(FORMATS),
    st.integers(0, 3),
    st.none() | st.integers(0, 2000),
    st.none() | st.integers(1, 9000),
)
seeds = st.binary(min_size=1, max_size=64)
FIELDS = ["price_in", "quality", "greybox_text", "priority"]


# Route names are drawn as placeholders (`@p3`, `@m1`, `@r2`: the n-th
# provider, model or route of the catalog, modulo its size) so the strategies
# are built once, not per catalog.
def _ref(prefix: str, size: int = 1) -> st.SearchStrategy[Any]:
    return st.lists(
        st.integers(0, 9).map(lambda n: f"@{prefix}{n}"), min_size=1, max_size=size, unique=True
    )


def resolve(doc: Any, cat: Catalog) -> Any:
    """`doc` with every placeholder replaced by a name of `cat`."""
    if isinstance(doc, dict):
        return {resolve(k, cat): resolve(v, cat) for k, v in doc.items()}
    if isinstance(doc, list):
        return [resolve(v, cat) for v in doc]
    if isinstance(doc, str) and doc[:1] == "@":
        names = {
            "p": sorted({r.provider for r in cat.routes}),
            "m": sorted({r.model for r in cat.routes}),
            "r": [f"{r.provider}/{r.model}" for r in cat.routes],
        }[doc[1]]
        return names[int(doc[2:]) % len(names)]
    return doc


PRED_LEAF = st.sampled_from(
    ["json", "image", "has_tee", "no_log", "has_images", "true", "false", "needs"]
) | st.one_of(
    st.builds(lambda xs: {"provider_in": xs}, _ref("p", 3)),
    st.builds(lambda xs: {"model_in": xs}, _ref("m", 3)),
    st.builds(lambda r: {"pin": r[0]}, _ref("r")),
    st.builds(lambda t: {"tier_at_least": t}, st.sampled_from(["basic", "premium"])),
    st.builds(lambda f: {"has": f}, st.sampled_from(FIELDS)),
    st.builds(
        lambda op, v: {op: {"price_in": v}},
        st.sampled_from(["lt", "le", "eq", "ge", "gt"]),
        st.sampled_from(["0.15", "1", "0"]),
    ),
    st.builds(lambda v: {"ge": {"quality": v}}, st.integers(0, 100)),
    st.builds(lambda xs: {"format_in": xs}, st.lists(st.sampled_from(FORMATS), min_size=1)),
    st.builds(lambda xs: {"entry_in": xs}, st.lists(st.sampled_from(ENTRIES), min_size=1)),
)
PREDS = st.recursive(
    PRED_LEAF,
    lambda kid: st.one_of(
        st.builds(lambda p: {"not": p}, kid),
        st.builds(lambda ps: {"all": ps}, st.lists(kid, min_size=1, max_size=3)),
        st.builds(lambda ps: {"any": ps}, st.lists(kid, min_size=1, max_size=3)),
    ),
    max_leaves=5,
)
SCORE_LEAF = (
    st.sampled_from(FIELDS)
    | st.integers(-50, 50)
    | st.builds(
        lambda rs, vs, d: {
            "route_value": {"routes": dict(zip(rs, vs[: len(rs)], strict=True)), "default": d}
        },
        _ref("r", 3),
        st.lists(st.integers(-9, 9), min_size=3, max_size=3),
        st.integers(-9, 9),
    )
)
SCORES = st.recursive(
    SCORE_LEAF,
    lambda kid: st.one_of(
        st.builds(lambda s: {"neg": s}, kid),
        st.builds(
            lambda k, d, s: {"scale": {"by": k, "div": d, "of": s}},
            st.integers(-1000, 1000),
            st.integers(1, 1000),
            kid,
        ),
        st.builds(lambda xs: {"sum": xs}, st.lists(kid, min_size=1, max_size=3)),
        st.builds(lambda xs: {"min": xs}, st.lists(kid, min_size=1, max_size=3)),
        st.builds(lambda xs: {"max": xs}, st.lists(kid, min_size=1, max_size=3)),
        st.builds(lambda p, s: {"gate": {"if": p, "then": s}}, PREDS, kid),
        st.builds(lambda s, r: {"normalize": {"of": s, "to": r}}, kid, st.integers(1, 1000)),
    ),
    max_leaves=4,
)
SELECTS = st.recursive(
    st.sampled_from(["argmax", "greybox"])
    | st.one_of(
        st.builds(lambda rs: {"chain": rs}, _ref("r", 4)),
        st.builds(lambda s: {"weighted": s}, SCORES),
        st.builds(lambda n: {"sample": n}, st.integers(0, 5)),
    ),
    lambda kid: st.one_of(
        st.builds(lambda k, s: {"top_k": {"k": k, "of": s}}, st.integers(1, 4), kid),
        st.builds(
            lambda ts: {"tiers": ts},
            st.lists(
                st.builds(lambda p, s: {"filter": p, "select": s}, PREDS, kid),
                min_size=1,
                max_size=3,
            ),
        ),
    ),
    max_leaves=3,
)
MUTATION = st.one_of(
    st.builds(lambda v: {"set": {"temperature": v}}, st.sampled_from(["0", "0.3", "1.5"])),
    st.builds(lambda v: {"set": {"max_tokens": v}}, st.integers(1, 5000)),
    st.builds(
        lambda a, b: {"clamp": {"max_tokens": [min(a, b), max(a, b)]}},
        st.integers(1, 9000),
        st.integers(1, 9000),
    ),
    st.builds(
        lambda a, b: {"jitter": {"temperature": [f"-0.{a}", f"0.{b}"]}},
        st.integers(0, 9),
        st.integers(0, 9),
    ),
    st.builds(lambda a: {"jitter": {"max_tokens": [-a, a]}}, st.integers(0, 500)),
    st.builds(
        lambda fs: {"text_filters": fs},
        st.lists(
            st.sampled_from(["NFC", "NFKC", "NormalizeWS", "RmZeroWidth"]), min_size=1, unique=True
        ),
    ),
    st.just("use_max_completion_tokens"),
)
MUTATES = st.lists(
    MUTATION
    | st.builds(
        lambda p, ms: {"when": {"if": p, "then": ms}},
        PREDS,
        st.lists(MUTATION, min_size=1, max_size=2),
    ),
    max_size=4,
)
ACTIONS = st.sampled_from(["next", "next_same_family", "skip_provider", "abort"])
PLANS = st.dictionaries(
    st.sampled_from(CLASSES),
    ACTIONS
    | st.builds(
        lambda n, ms, then: {"retry": {"attempts": n, "backoff_ms": ms, "then": then}},
        st.integers(1, 5),
        st.integers(0, 900),
        ACTIONS,
    ),
)
DOCS = st.fixed_dictionaries(
    {},
    optional={
        "filter": st.lists(PREDS, max_size=3),
        "score": SCORES,
        "select": SELECTS,
        "mutate": MUTATES,
        "on_failure": PLANS,
        "max_attempts": st.integers(1, 16),
    },
)


# -- cascades ----------------------------------------------------------------
failures = st.lists(
    st.one_of(
        st.tuples(
            st.just("status"),
            st.sampled_from([400, 401, 403, 404, 408, 413, 418, 429, 500, 502, 503, 504, 529]),
        ),
        st.tuples(
            st.sampled_from(["network", "non_user", "weird", "context_overflow", "content_filter"]),
            st.none() | st.just(400),
        ),
    ).map(list),
    max_size=20,
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Catalog, Policy, Request, bytes]:
    """A catalog, a policy admitted against it, a request and a seed, drawn together."""
    cat = catalog(draw(rows))
    doc = resolve(draw(DOCS), cat)
    try:
        policy = admit(doc, cat)
    except PolicyError as err:
        # Interval analysis may refuse a generated scorer; use the default one.
        assert err.code in ("POL_BOUND", "POL_DUPLICATE"), err
        policy = admit({**doc, "score": 0, "select": "argmax"}, cat)
    return cat, policy, draw(requests), draw(seeds)
