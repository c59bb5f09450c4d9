"""The cost of the random selectors under a limit, counted in PRNG draws and HMAC blocks.

Spec: docs/SPEC.md §8.3 (select, "Limit and cost") and §9 rule 1. `decide`
passes `max_attempts` to `select` as its limit, so at 1,000 routes `weighted`
draws `min(max_attempts, routes with weight > 0)` times and `sample` draws for
the first `max_attempts + spread` positions only, in the Python reference and
in sandboxed Lua 5.3/5.4 states; the kept routes are the prefix of the whole
order, equal in both runtimes, and a limit changes no error.

Draws are counted, not timed: `Stream.below` calls and HMAC blocks per stream
label. Every bound here is below 2^32, so each draw reads 4 bytes of a 32-byte
block (§4.6); with these fixed seeds no draw is rejected (a rejection is below
1 in 2^16 at these bounds), so the blocks of a stream are exactly
`ceil(draws / 8)`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from support.drivers import driver
from support.luasandbox import new_state
from support.policies import catalog

import genvm_policy.core.prng as prng
from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import Catalog, catalog_value
from genvm_policy.core.decision import decide
from genvm_policy.core.encoding import decode, encode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.interpreter import bind, score
from genvm_policy.core.policy import Policy
from genvm_policy.core.predicate import filter_routes
from genvm_policy.core.request import Request, make_request, request_value
from genvm_policy.core.selection import select

pytestmark = pytest.mark.runtimes("lupa")

N = 1000
TEXT = make_request(prompt_bytes=64)
SEEDS = [bytes([s]) * 32 for s in (1, 7, 42)]
TIERS = {"tiers": [
    {"filter": {"tier_at_least": "premium"}, "select": {"weighted": {"sum": [1, "quality"]}}},
    {"filter": {"tier_at_least": "standard"}, "select": {"sample": {"spread": 2}}},
    {"filter": "true", "select": {"weighted": {"sum": [1, "quality"]}}},
]}  # fmt: skip  # a table laid out by hand in rows


def rows(n: int) -> list[Any]:
    """`n` routes over 20 providers: tiers, prices and qualities spread out."""
    tiers = ("basic", "standard", "premium")
    return [
        (
            f"p{i % 20:02d}",
            f"vendor/m{i:04d}",
            True,
            False,
            i + 1,
            None,
            f"{i % 9}.25",
            tiers[i * 7 % 3],
            i * 37 % 101,
            False,
        )
        for i in range(n)
    ]


BIG = catalog(rows(N))
SMALL = catalog(rows(60))


def policy(select_term: Any, attempts: int) -> Policy:
    return admit({"score": "quality", "select": select_term, "max_attempts": attempts})


DRIVER = driver("selector_cost")


@pytest.fixture(scope="module")
def lua(runtime: str) -> Iterator[Any]:
    state = new_state(runtime, binary=True)
    yield state.execute(DRIVER)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Counter[str], Counter[str]]]:
    """(draws, blocks) per stream label in the Python reference, while the test runs."""
    draws: Counter[str] = Counter()
    blocks: Counter[str] = Counter()
    real_block, real_below = prng.stream_block, prng.Stream.below

    def block(key: bytes, label: str, index: int) -> bytes:
        blocks[label] += 1
        return real_block(key, label, index)

    def below(self: prng.Stream, n: int) -> int:
        draws[self._label] += 1
        return real_below(self, n)

    monkeypatch.setattr(prng, "stream_block", block)
    monkeypatch.setattr(prng.Stream, "below", below)
    yield draws, blocks


def blob(cat: Catalog, pol: Policy, req: Request, seed: bytes) -> bytes:
    return encode(
        {
            "catalog": catalog_value(cat),
            "policy": pol.value,
            "request": request_value(req),
            "seed": seed,
        }
    )


def whole_order(cat: Catalog, pol: Policy, seed: bytes) -> list[int]:
    """The unlimited order of the Python reference."""
    b = bind(cat, pol)
    survivors, _ = filter_routes(b, TEXT)
    by_rank = dict(zip(survivors, score(pol.score, b, survivors, TEXT), strict=True))
    return select(b, survivors, by_rank, TEXT, seed)


def select_counts(draws: Counter[str], blocks: Counter[str]) -> list[list[Any]]:
    """[label, draws, blocks] of every select stream that drew (Lua also lists the others)."""
    labels = sorted(k for k in set(draws) | set(blocks) if k.startswith("select/"))
    return [[k, draws[k], blocks[k]] for k in labels]


def lua_counts(out: dict[str, Any]) -> list[list[Any]]:
    return sorted([[k, d, b] for k, d, b in out["counts"] if d or b])


# (select term, max_attempts, expected draws per select stream at N = 1,000)
CASES: list[tuple[str, Any, int, dict[str, int]]] = [
    ("weighted-1", {"weighted": {"sum": [1, "quality"]}}, 1, {"select/weighted/0": 1}),
    ("weighted-8", {"weighted": {"sum": [1, "quality"]}}, 8, {"select/weighted/0": 8}),
    ("weighted-16", {"weighted": {"sum": [1, "quality"]}}, 16, {"select/weighted/0": 16}),
    ("sample-0", {"sample": {"spread": 0}}, 8, {"select/sample/0": 0}),
    ("sample-3", {"sample": {"spread": 3}}, 8, {"select/sample/0": 8 + 3}),
    ("sample-50", {"sample": {"spread": 50}}, 16, {"select/sample/0": 16 + 50}),
    ("top_k-sample", {"top_k": {"k": 2, "of": {"sample": {"spread": 5}}}}, 8,
     {"select/sample/0": 2 + 5}),
    # The premium tier alone fills the limit: later tiers open their streams, draw nothing.
    ("tiers", TIERS, 6, {"select/weighted/0": 6, "select/sample/1": 0, "select/weighted/2": 0}),
]  # fmt: skip  # a table laid out by hand in rows


@pytest.mark.parametrize(("name", "term", "attempts", "want"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed-{s[0]}" for s in SEEDS])
def test_draws_bounded_by_max_attempts_and_spread(
    counted: tuple[Counter[str], Counter[str]],
    lua: Any,
    name: str,
    term: Any,
    attempts: int,
    want: dict[str, int],
    seed: bytes,
) -> None:
    pol = policy(term, attempts)
    draws, blocks = counted
    d = decide(BIG, pol, TEXT, seed)
    expected = [[k, n, -(-n // 8)] for k, n in sorted(want.items()) if n]
    assert select_counts(draws, blocks) == expected
    assert len(d.ranks) == (2 if name == "top_k-sample" else attempts)
    out: Any = decode(lua.decide(blob(BIG, pol, TEXT, seed)))
    assert lua_counts(out) == expected
    assert list(out["ranks"]) == list(d.ranks)


@pytest.mark.parametrize("term", [CASES[1][1], CASES[4][1]], ids=["weighted", "sample"])
def test_whole_order_draws_once_per_route(
    counted: tuple[Counter[str], Counter[str]], lua: Any, term: Any
) -> None:
    # Without a limit every route draws: the counters above see every draw.
    pol = policy(term, 8)
    draws, _ = counted
    order = whole_order(BIG, pol, SEEDS[0])
    assert sum(draws.values()) == len(order) == N
    out: Any = decode(lua.whole(blob(BIG, pol, TEXT, SEEDS[0])))
    assert [n for _, n, _ in out["counts"]] == [N]
    assert list(out["ranks"]) == order


NESTED = [
    {"weighted": {"normalize": {"of": "quality", "to": 9}}},
    {"sample": {"spread": 1}},
    {"sample": {"spread": 7}},
    {"top_k": {"k": 3, "of": {"weighted": {"sum": [1, "quality"]}}}},
    TIERS,
    {"tiers": [
        {"filter": {"tier_at_least": "standard"}, "select": {"top_k": {"k": 2, "of": TIERS}}},
        {"filter": "true", "select": {"sample": {"spread": 3}}},
        {"filter": {"tier_at_least": "premium"}, "select": {"weighted": "quality"}},
    ]},
    # A tier that cuts (top_k over a draw): the cut routes reach the next tier.
    {"tiers": [
        {"filter": "true", "select": {"top_k": {"k": 2, "of": {"weighted": "quality"}}}},
        {"filter": "true", "select": {"sample": {"spread": 2}}},
    ]},
    {"tiers": [
        {"filter": {"lt": {"quality": 30}}, "select": "greybox"},
        {"filter": {"lt": {"quality": 60}}, "select": {"weighted": {"sum": [-40, "quality"]}}},
        {"filter": "true", "select": {"sample": {"spread": 2}}},
    ]},
]  # fmt: skip  # a table laid out by hand in rows


@pytest.mark.parametrize("term", NESTED, ids=[f"nested-{k}" for k in range(len(NESTED))])
@pytest.mark.parametrize("attempts", [1, 2, 5, 16])
def test_limited_order_is_the_prefix_of_the_whole_order(lua: Any, term: Any, attempts: int) -> None:
    pol = policy(term, attempts)
    for seed in SEEDS:
        whole = whole_order(SMALL, pol, seed)
        d = decide(SMALL, pol, TEXT, seed)
        assert list(d.ranks) == whole[:attempts]
        out: Any = decode(lua.decide(blob(SMALL, pol, TEXT, seed)))
        assert list(out["ranks"]) == list(d.ranks)


def test_a_limit_changes_no_error(lua: Any) -> None:
    # The last tier is past the limit, yet its weights' sum can overflow: bind refuses the
    # policy whatever the limit (SPEC §8, bounds at bind), at the tier's selector.
    huge = 2**52
    node = {
        "backends": {
            "p": {
                "provider": "openai-compatible",
                "key": "k",
                "models": {"a": {}, "b": {}, "c": {}},
            }
        }
    }
    over = {
        "version": 1,
        "tiers": ["basic", "premium"],
        "default_tier": "basic",
        "fields": {"big": {"scale": 0, "min": 0, "max": huge}},
        "routes": {
            "p": {
                "a": {"tier": "premium", "fields": {"big": 1}},
                "b": {"fields": {"big": huge}},
                "c": {"fields": {"big": huge}},
            }
        },
    }
    cat = build_catalog(node, over)
    pol = admit(
        {
            "select": {
                "tiers": [
                    {"filter": {"tier_at_least": "premium"}, "select": "argmax"},
                    {"filter": "true", "select": {"weighted": "big"}},
                ]
            },
            "max_attempts": 1,
        },
        cat,
    )
    with pytest.raises(PolicyError) as err:
        decide(cat, pol, TEXT, SEEDS[0])
    assert (err.value.code, err.value.path) == ("POL_BOUND", ("select", 1, 1, 1))
    out: Any = decode(lua.decide(blob(cat, pol, TEXT, SEEDS[0])))
    got = out["error"]
    assert [got[0], list(got[1])] == ["POL_BOUND", ["select", 1, 1, 1]]
