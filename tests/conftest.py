"""Shared pytest configuration: hypothesis profiles and the `runtime` parameter.

A test (or a fixture it uses) that takes an argument named `runtime` runs once per
runtime of `support.runtimes.RUNTIMES`; `@pytest.mark.runtimes("lupa")` (on the
test, its class or its module) narrows that to the runtimes of those kinds,
`@pytest.mark.runtimes("process", "lua53", every=True)` to those in all of them.
The parameter is module-scoped so a module's fixtures can build one state per runtime.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from support.runtimes import names

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile(
    "long",
    deadline=None,
    max_examples=100_000,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    """Register the `runtimes` marker, so `--strict-markers` accepts it."""
    config.addinivalue_line(
        "markers", "runtimes(*kinds, every=False): run only in the runtimes of these kinds"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise `runtime` over the declared runtimes, narrowed by `runtimes` markers."""
    if "runtime" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("runtimes")
    chosen = names(*marker.args, **marker.kwargs) if marker else names()
    assert chosen, f"{metafunc.definition.nodeid}: the `runtimes` marker selects no runtime"
    metafunc.parametrize("runtime", chosen, ids=chosen, scope="module")
