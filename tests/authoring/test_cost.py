"""The cost bound (SPEC §7.5): the model, its limit, and the slow policies it refuses.

Timing is checked by `benchmarks/run` (the `decide_costliest` rows), never here;
these tests pin what admission refuses, where it points, and that the spec's
table is the module's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from support.policies import big_catalog

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.cost import BASE, COST, DRAW, LIMIT, STREAM, policy_cost
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import OPS

ROOT = Path(__file__).resolve().parents[2]
CAT_1000 = big_catalog(1000)


def refused(doc: dict[str, Any], n: int = 1000) -> tuple[str, tuple[Any, ...]]:
    with pytest.raises(PolicyError) as err:
        admit(doc, CAT_1000 if n == 1000 else big_catalog(n))
    return err.value.code, tuple(err.value.path)


def test_slow_policies_are_refused_at_their_costliest_term() -> None:
    many = {"score": {"sum": [{"normalize": {"of": {"sum": ["quality", k]}}} for k in range(200)]}}
    assert refused(many) == ("POL_COST", ("score", 1))
    assert refused({"select": {"sample": 1 << 20}}) == ("POL_COST", ("select",))
    tiers = {"select": {"tiers": [{"filter": "true", "select": {"sample": 1}}] * 100}}
    code, path = refused(tiers)
    assert code == "POL_COST" and path[:2] == ("select", 1) and path[-1] == 1


def test_a_costly_policy_passes_on_a_small_catalog_and_without_one() -> None:
    doc = {"select": {"sample": 1 << 20}}
    assert admit(doc, big_catalog(100)).select == ["sample", 1 << 20]
    assert admit(doc).select == ["sample", 1 << 20]  # no catalog, no size to bound


def test_the_limit_grows_with_the_catalog_past_1000_routes() -> None:
    doc = {
        "score": {
            "sum": [{"normalize": {"of": "quality"}}, {"normalize": {"of": {"neg": "quality"}}}]
        }
    }
    cost = policy_cost(admit(doc, CAT_1000), 10_000)
    assert LIMIT < cost <= LIMIT * 10  # over the 1,000-route limit, within 10,000's
    assert admit(doc, big_catalog(10_000)).score[0] == "sum"


def test_the_cost_is_the_sum_of_the_table() -> None:
    p = admit(
        {
            "filter": [{"fits_context": {"bytes_per_token": 4}}],
            "score": "quality",
            "select": {"weighted": "quality"},
            "mutate": [{"jitter": {"temperature": ["-0.1", "0.1"]}}],
            "max_attempts": 4,
        }
    )
    n = 1000
    per_route = (
        BASE[0]
        + COST["all"][0]
        + COST["needs"][0]
        + COST["fits_context"][0]
        + COST["field"][0]
        + COST["weighted"][0]
        + COST["field"][0]
    )
    fixed = BASE[1] + COST["jitter"][1] + STREAM + 4 * DRAW
    assert policy_cost(p, n) == per_route * n + fixed


def test_every_op_has_a_cost_and_the_spec_table_is_the_modules() -> None:
    assert set(COST) == set(OPS) - {"next", "next_same_family", "retry", "skip_provider", "abort"}
    spec = (ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8")
    section = spec.split("### 7.5 Cost")[1].split("\n## ")[0]
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| ([0-9,]+ \| [0-9,]+) \|$", section, re.M))
    table = {op: f"{a:,} | {b:,}" for op, (a, b) in COST.items()}
    assert rows == table
    for name, value in (
        ("BASE", f"{BASE[0]:,} per route + {BASE[1]:,}"),
        ("DRAW", f"{DRAW:,}"),
        ("STREAM", f"{STREAM:,}"),
        ("LIMIT", f"{LIMIT:,}"),
    ):
        assert f"`{name}` = {value}" in section, name
