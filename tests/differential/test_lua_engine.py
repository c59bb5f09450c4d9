"""The Lua policy engine (`dispatch/genvm_policy/`) against the Python reference.

Spec: docs/SPEC.md §5-§10 and "Lua runtime notes". Every property decides in
Python and in a sandboxed `lupa` Lua 5.3 or 5.4 state and compares canonical
CBOR bytes: the decision report (record, every planned attempt's parameters,
rejections with reasons, scores), cascades over scripted outcomes, and the
(code, path) of every error, including malformed compiled terms.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from luasandbox import ROOT, new_state
from test_policy_support import catalog

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.builtin import builtin
from genvm_policy.core.cascade import Failure, Success, run
from genvm_policy.core.catalog import Catalog, catalog_value
from genvm_policy.core.decision import Attempt, decide, decision_report
from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.errors import CODES, PolicyError
from genvm_policy.core.policy import CLASSES, Policy, policy_identity
from genvm_policy.core.request import ENTRIES, FORMATS, Request, make_request, request_value
from genvm_policy.loaders.sources import load_document

EXAMPLES = sorted((ROOT / "examples" / "policies").iterdir())
MANY = settings(max_examples=max(300, settings().max_examples))

DRIVER = rb"""
local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local catalog = require("genvm_policy.catalog")
local policy = require("genvm_policy.policy")
local request = require("genvm_policy.request")
local decision = require("genvm_policy.decision")
local cascade = require("genvm_policy.cascade")
local builtin = require("genvm_policy.builtin")
local array, map = encoding.array, encoding.map

-- Run `f`; a registered error becomes {error = {code, path}}, anything else re-raises.
local function guarded(f, ...)
  local ok, result = pcall(f, ...)
  if ok then
    return encoding.encode(result)
  end
  if not errors.is_error(result) then
    error(result, 0)
  end
  return encoding.encode(map({ error = array({ result.code, array(result.path) }) }))
end

local function inputs(v)
  return catalog.from_value(v.catalog), policy.from_value(v.policy),
    request.from_value(v.request), v.seed[1]
end

local D = {}

function D.report(blob)
  return guarded(function()
    local c, p, r, seed = inputs(encoding.decode(blob))
    return decision.report(decision.decide(c, p, r, seed))
  end)
end

-- Cascade over outcomes[n] for the n-th call (then success); also the waits.
function D.cascade(blob)
  return guarded(function()
    local v = encoding.decode(blob)
    local c, p, r, seed = inputs(v)
    local d = decision.decide(c, p, r, seed)
    local n, waits = 0, {}
    local function call(a)
      n = n + 1
      local o = v.outcomes[n]
      if o == nil then
        return cascade.success(a.provider .. "/" .. a.model)
      end
      -- Statuses arrive as floats from GenVM: exercise the normalisation.
      local status = o[2] ~= encoding.null and o[2] + 0.0 or nil
      return cascade.failure(o[1], status)
    end
    local out = cascade.run(d, call, function(ms) waits[#waits + 1] = ms end)
    local trace = {}
    for i = 1, #out.trace do
      local s = out.trace[i]
      trace[i] = array({ s.attempt, s.provider, s.model, s.result, s.action })
    end
    return map({ ok = out.ok, data = out.data or encoding.null,
      error_class = out.error_class or encoding.null, code = out.code or encoding.null,
      trace = array(trace), waits = array(waits) })
  end)
end

function D.policy(blob)
  return guarded(function()
    return policy.policy_identity(policy.from_value(encoding.decode(blob)))
  end)
end

function D.catalog(blob)
  return guarded(function()
    return #catalog.from_value(encoding.decode(blob)).routes
  end)
end

function D.builtin(name)
  return guarded(function()
    local p = builtin.builtin(name)
    local raw = encoding.bytes(encoding.encode(policy.policy_value(p)))
    return array({ raw, policy.policy_identity(p) })
  end)
end

function D.codes()
  local out = {}
  for code in pairs(errors.CODES) do
    out[#out + 1] = code
  end
  table.sort(out, encoding.bytes_less)
  return encoding.encode(array(out))
end

return D
"""


@pytest.fixture(scope="module", params=["lua53", "lua54"])
def lua(request: pytest.FixtureRequest) -> Iterator[Any]:
    state = new_state(request.param, binary=True)
    yield state.execute(DRIVER)
    assert state.eval(b"next(_G, nil) ~= nil") and state.eval(
        b"(function() for k in pairs(_G) do if k == 'D' or k == 'encoding' then "
        b"return false end end return true end)()"
    ), "the Lua modules leaked a global"


def guarded(f: Any) -> bytes:
    try:
        return encode(f())
    except PolicyError as err:
        return encode({"error": [err.code, list(err.path)]})


def blob(cat: Catalog, policy: Policy, req: Request, seed: bytes, **extra: Any) -> bytes:
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
    return guarded(lambda: decision_report(decide(cat, policy, req, seed)))


def py_cascade(
    cat: Catalog, policy: Policy, req: Request, seed: bytes, outcomes: list[list[Any]]
) -> bytes:
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


@st.composite
def cases(draw: st.DrawFn) -> tuple[Catalog, Policy, Request, bytes]:
    cat = catalog(draw(rows))
    doc = resolve(draw(DOCS), cat)
    try:
        policy = admit(doc, cat)
    except PolicyError as err:
        # Interval analysis may refuse a generated scorer; use the default one.
        assert err.code in ("POL_BOUND", "POL_DUPLICATE"), err
        policy = admit({**doc, "score": 0, "select": "argmax"}, cat)
    return cat, policy, draw(requests), draw(seeds)


# -- decisions ---------------------------------------------------------------
@MANY
@given(cases())
def test_generated_decisions_agree(lua: Any, case: tuple[Catalog, Policy, Request, bytes]) -> None:
    cat, policy, req, seed = case
    want = py_report(cat, policy, req, seed)
    assert lua.report(blob(cat, policy, req, seed)) == want
    got: Any = decode(want)
    # Only a `weighted` sum over the catalog's routes is left to bind (SPEC §8).
    assert "error" not in got or (
        got["error"][0] == "POL_BOUND" and got["error"][1][0] == "select"
    ), got


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@MANY
@given(rows, requests, seeds)
def test_example_policies_agree(lua: Any, path: Path, rs: Any, req: Request, seed: bytes) -> None:
    cat = catalog(rs)
    try:
        policy = admit(load_document(path, what="policy"), cat)
    except PolicyError as err:
        assert err.code in ("POL_ROUTE", "POL_FIELD", "POL_TIER"), err  # names this catalog lacks
        return
    assert lua.report(blob(cat, policy, req, seed)) == py_report(cat, policy, req, seed)


@MANY
@given(rows, requests, seeds)
def test_stock_greybox_agrees(lua: Any, rs: Any, req: Request, seed: bytes) -> None:
    cat = catalog(rs)
    policy = builtin("stock-greybox")
    assert lua.report(blob(cat, policy, req, seed)) == py_report(cat, policy, req, seed)


def test_builtin_is_the_reference_value(lua: Any) -> None:
    policy = builtin("stock-greybox")
    got = decode(lua.builtin(b"stock-greybox"))
    assert got == [encode(policy.value), policy_identity(policy)]
    assert decode(lua.builtin(b"nope")) == {"error": ["POL_VALUE", []]}


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


@MANY
@given(cases(), failures)
def test_cascades_agree(
    lua: Any, case: tuple[Catalog, Policy, Request, bytes], outcomes: list[list[Any]]
) -> None:
    cat, policy, req, seed = case
    want = py_cascade(cat, policy, req, seed, outcomes)
    assert lua.cascade(blob(cat, policy, req, seed, outcomes=outcomes)) == want


# -- failing closed ----------------------------------------------------------
VALID = builtin("stock-greybox").value


def _nested(depth: int) -> list[Any]:
    term: list[Any] = ["json"]
    for _ in range(depth):
        term = ["not", term]
    return term


DEEP = _nested(16)  # 17 terms deep: one past the limit


def _with(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


@pytest.mark.parametrize(
    ("value", "code", "path"),
    [
        ("not a map", "POL_TYPE", []),
        (_with(extra=1), "POL_KEY", ["extra"]),
        ({k: v for k, v in VALID.items() if k != "score"}, "POL_KEY", ["score"]),
        (_with(version=1), "POL_VALUE", ["version"]),
        (_with(version=3), "POL_VALUE", ["version"]),
        (_with(filter="needs"), "POL_TYPE", ["filter"]),
        (_with(filter=["nope"]), "POL_OP", ["filter", 0]),
        (_with(filter=["request", "ne", "images", 1]), "POL_VALUE", ["filter", 1]),
        (_with(filter=["request", "le", "temperature", 1]), "POL_VALUE", ["filter", 2]),
        (_with(filter=["fits_context", 4]), "POL_ARITY", ["filter"]),
        (_with(filter=["const", 1]), "POL_SORT", ["filter"]),
        (_with(filter=["not"]), "POL_ARITY", ["filter"]),
        (_with(filter=["all", ["json"], ["provider_in", [1]]]), "POL_TYPE", ["filter", 2, 1, 0]),
        (_with(filter=["lt", "price_in", [1, 2]]), "POL_TYPE", ["filter", 2]),
        (_with(score=["scale", 1, 2]), "POL_ARITY", ["score"]),
        (_with(select=["tiers", [[["json"], ["next"]]]]), "POL_SORT", ["select", 1, 0, 1]),
        (_with(mutate=[["set", "top_k", 1]]), "POL_VALUE", ["mutate", 0, 1]),
        (_with(mutate=[["text_filters", ["NFD"]]]), "POL_VALUE", ["mutate", 0, 1, 0]),
        (
            _with(on_failure={**VALID["on_failure"], "auth": ["retry", 1, 0]}),
            "POL_ARITY",
            ["on_failure", "auth"],
        ),
        (
            _with(on_failure={c: a for c, a in VALID["on_failure"].items() if c != "unknown"}),
            "POL_KEY",
            ["on_failure", "unknown"],
        ),
        (_with(max_attempts=17), "POL_LIMIT", ["max_attempts"]),
        (_with(filter=DEEP), "POL_LIMIT", ["filter", *[1] * 16]),
    ],
)
def test_malformed_policy_values_fail_closed(
    lua: Any, value: Any, code: str, path: list[Any]
) -> None:
    assert decode(lua.policy(encode(value))) == {"error": [code, path]}


@given(st.data())
def test_any_corruption_is_a_registered_error(lua: Any, data: st.DataObject) -> None:
    value: Any = decode(encode(VALID))
    junk = (
        st.none()
        | st.booleans()
        | st.integers(-3, 20)
        | st.sampled_from(["", "json", "next", "greybox", "abort", "retry"])
        | st.lists(st.sampled_from(["json", "not", "all", "set", "retry", 1, "x"]), max_size=4)
    )
    slot = data.draw(st.sampled_from(sorted(value)))
    target: Any = value
    key: Any = slot
    while isinstance(target[key], list | dict) and target[key] and data.draw(st.booleans()):
        target = target[key]
        key = data.draw(
            st.sampled_from(sorted(target) if isinstance(target, dict) else range(len(target)))
        )
    target[key] = data.draw(junk)
    got: Any = decode(lua.policy(encode(value)))
    assert isinstance(got, str) or got["error"][0] in CODES


def test_malformed_catalog_values_fail_closed(lua: Any) -> None:
    good = catalog_value(catalog())
    assert decode(lua.catalog(encode(good))) == len(catalog().routes)
    assert isinstance(good, dict) and isinstance(good["routes"], list)
    routes: list[Any] = list(good["routes"])
    swapped = {**good, "routes": [routes[1], routes[0], *routes[2:]]}
    assert decode(lua.catalog(encode(swapped))) == {"error": ["CAT_TYPE", ["routes", 1]]}
    bad = {**routes[0], "json": 1}
    broken = {**good, "routes": [bad, *routes[1:]]}
    assert decode(lua.catalog(encode(broken))) == {"error": ["CAT_TYPE", ["routes", 0, "json"]]}
    assert decode(lua.catalog(encode({**good, "x": 1}))) == {"error": ["CAT_TYPE", []]}


def test_lua_registers_every_code_it_shares_with_python(lua: Any) -> None:
    codes = decode(lua.codes())
    assert isinstance(codes, list)
    lua_codes = set(codes)
    assert lua_codes <= set(CODES)
    for code in (
        "REQ_FIELD",
        "POL_TYPE",
        "POL_KEY",
        "POL_OP",
        "POL_SORT",
        "POL_ARITY",
        "POL_VALUE",
        "POL_FIELD",
        "POL_TIER",
        "POL_LIMIT",
        "POL_BOUND",
        "NUM_RANGE",
        "CAT_TYPE",
    ):
        assert code in lua_codes
