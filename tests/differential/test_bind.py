"""`bind` checks a policy against the catalog it is decided on, alike in every runtime.

Spec: docs/SPEC.md §8 rule 6. Vector cases: `decision` `unbound_*`, and the frozen
`vectors/regressions/0002-*` (each term the catalog cannot serve, at its path, in
every runtime).

A policy admitted without its catalog and decided on a catalog that lacks a field,
a tier or a scale it needs fails in `bind` with the registered code at the path of
the term in the policy value: no `KeyError`, no empty path, the same pair in the
reference and in lupa Lua 5.3 and 5.4, before any route is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.drivers import driver
from support.engine import blob, py_report
from support.luasandbox import new_state
from support.policies import catalog

from genvm_policy.authoring.admission import admit
from genvm_policy.core.decision import decide
from genvm_policy.core.encoding import decode
from genvm_policy.core.request import make_request
from genvm_policy.vectors.generate_flow import UNBOUND

pytestmark = pytest.mark.runtimes("lupa")

SEED = bytes(range(32))


@pytest.fixture(scope="module")
def lua(runtime: str) -> Iterator[Any]:
    yield new_state(runtime, binary=True).execute(driver("engine"))


def test_every_unbound_vector_fails_alike(lua: Any) -> None:
    cat, req = catalog(), make_request()
    for _, _, doc in UNBOUND:
        policy = admit(doc)
        want = py_report(cat, policy, req, SEED)
        got = decode(want)
        assert isinstance(got, dict) and "error" in got
        assert lua.report(blob(cat, policy, req, SEED)) == want


def test_a_declared_field_binds_and_decides(lua: Any) -> None:
    cat, req = catalog(), make_request()
    policy = admit({"score": "quality", "filter": {"ge": {"quality": "70"}}})
    d = decide(cat, policy, req, SEED)
    assert d.routes and all(
        dict(r.fields)["quality"] >= 70
        for r in cat.routes
        if (r.provider, r.model) in {(p, m) for p, m, _ in d.routes}
    )
    assert lua.report(blob(cat, policy, req, SEED)) == py_report(cat, policy, req, SEED)
