"""The policy vector kinds: coverage of the language, bounds, classes and agreement.

Spec: docs/VECTORS.md §6.8 to §6.16. The committed `vectors/` are read as
data; the coverage checks walk their inputs and outputs, and the agreement
checks replay them in the Lua runtime through `lupa` (Lua 5.3).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.runtimes import names

from genvm_policy.core import encoding
from genvm_policy.core.cascade import KIND_CLASS, KIND_FIRST, STATUS_CLASS
from genvm_policy.core.policy import CLASSES, LIMITS, OPS
from genvm_policy.node import runtimes
from genvm_policy.vectors.kinds import KINDS

ROOT = runtimes.ROOT
VECTORS = ROOT / "vectors"
POLICY_KINDS = ["catalog", "request", "admission", "predicate", "scorer", "selector",
                "mutate", "cascade", "decision"]  # fmt: skip  # a table laid out by hand in rows


def cases(kind: str) -> list[dict[str, Any]]:
    """The cases of the committed file of `kind`."""
    top = encoding.decode((VECTORS / f"{kind}.cbor").read_bytes())
    assert isinstance(top, dict)
    return list(top["cases"])


def terms(value: Any) -> Iterator[str]:
    """Every op name at the head of an array inside `value`."""
    if isinstance(value, list):
        if value and isinstance(value[0], str) and value[0] in OPS:
            yield value[0]
        for item in value:
            yield from terms(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from terms(item)


def test_every_policy_kind_is_registered_with_valid_and_invalid_cases() -> None:
    names = [k.name for k in KINDS]
    for kind in POLICY_KINDS:
        assert kind in names
        valid = {case["valid"] for case in cases(kind)}
        assert valid == {True, False}, kind
    assert sum(len(cases(kind)) for kind in POLICY_KINDS) > 1000


def test_every_op_of_the_language_runs_in_the_lua_kinds() -> None:
    seen: set[str] = set()
    for kind in ("predicate", "scorer", "selector", "mutate", "cascade", "decision"):
        for case in cases(kind):
            if case["valid"]:
                seen.update(terms(case["input"]))
    assert seen == set(OPS), sorted(set(OPS) - seen)


@pytest.mark.parametrize("limit", sorted(LIMITS))
def test_every_admission_bound_at_and_past_its_edge(limit: str) -> None:
    prefix = {
        "depth": "depth",
        "nodes": "nodes",
        "list": "list",
        "max_attempts": "max_attempts",
        "retry_attempts": "retry",
        "backoff_ms": "backoff",
        "factor": "scale_by",
        "spread": "spread",
        "top_k": "top_k",
    }[limit]
    found = {case["name"]: case for case in cases("admission")}
    mine = [case for name, case in found.items() if name.startswith(f"edge_{prefix}")]
    assert any(case["valid"] for case in mine), limit
    assert any(not case["valid"] for case in mine), limit
    for case in mine:
        if not case["valid"]:
            assert case["error"]["code"] in ("POL_LIMIT", "NUM_RANGE", "POL_VALUE"), case["name"]


def test_cascade_covers_every_class_and_action() -> None:
    results: set[str] = set()
    actions: set[str] = set()
    codes: set[Any] = set()
    for case in cases("cascade"):
        if case["valid"]:
            codes.add(case["output"]["code"])
            for _, _, _, result, action in case["output"]["trace"]:
                results.add(result)
                actions.add(action)
    classes = set(STATUS_CLASS.values()) | set(KIND_FIRST.values()) | set(KIND_CLASS.values())
    assert classes | {"server", "unknown"} == set(CLASSES)
    assert results == set(CLASSES) | {"ok"}
    assert actions == {"done", "next", "next_same_family", "retry", "skip_provider", "abort"}
    assert codes == {None, "abort", "NO_PROVIDER_FOR_PROMPT"}


def test_decisions_cover_every_request_class_and_several_orders() -> None:
    seen = {
        (
            case["input"]["request"]["entry"],
            case["input"]["request"]["format"],
            case["input"]["request"]["images"] > 0,
        )
        for case in cases("decision")
        if case["valid"]
    }
    assert len(seen) == 7
    orders = {
        tuple(map(tuple, case["output"]["routes"])) for case in cases("decision") if case["valid"]
    }
    assert len(orders) > 20


def test_selector_orders_break_ties_by_bytes_not_collation() -> None:
    case = next(c for c in cases("selector") if c["name"] == "argmax_ties_bytes_text_seed0")
    order = case["output"]
    assert order == sorted(order, key=lambda r: (r[0].encode(), r[1].encode()))
    assert order != sorted(order, key=lambda r: (r[0].casefold(), r[1].casefold()))


def test_lua_runner_agrees_on_every_policy_case() -> None:
    run = runtimes.vector_runner("lua53")
    for kind in POLICY_KINDS:
        if kind == "admission":
            continue
        for case in cases(kind):
            want = {"output": case["output"]} if case["valid"] else {"error": case["error"]}
            got = run(kind, encoding.encode(case["input"]))
            assert encoding.decode(got) == want, f"{kind}/{case['name']}"


def test_tampered_decision_fails_in_every_lua_runtime(tmp_path: Path) -> None:
    target = tmp_path / "vectors"
    target.mkdir()
    shutil.copy(VECTORS / "decision.cbor", target)
    top = encoding.decode((target / "decision.cbor").read_bytes())
    assert isinstance(top, dict)
    case = next(c for c in top["cases"] if c["valid"] and c["output"]["attempts"])
    case["output"]["attempts"][0]["params"]["seed"] += 1
    (target / "decision.cbor").write_bytes(encoding.encode(top))
    for runtime in names("reference", "lua53", without=("cargo",)):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "genvm_policy.cli",
                "vectors",
                "verify",
                "--runtime",
                runtime,
                str(target),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert out.returncode == 1, runtime
        assert f"FAIL decision/{case['name']}: output.attempts[0].params.seed" in out.stdout
