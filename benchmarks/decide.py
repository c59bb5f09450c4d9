"""`decide` rows: one full decision per sample, in Python and in lupa's `lua53`.

Both runtimes decide the same (catalog, policy, request) with a fresh 32-byte
call key per sample, derived from the sample number, so no draw is replayed.
As on the node, the catalog identity is computed once per VM, not per call.
The Lua side runs `lua_decide.lua` in a state stripped to GenVM's sandbox; its
decision identity is compared with Python's before any timing, so a wrong
answer is reported, never timed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from benchmarks.harness import Budget, lua_peak_kib, python_peak_kib, time_calls, time_turns
from benchmarks.report import Row
from genvm_policy.core.catalog import Catalog, catalog_identity, catalog_value
from genvm_policy.core.decision import decide
from genvm_policy.core.encoding import encode
from genvm_policy.core.policy import Policy, policy_value
from genvm_policy.core.request import Request, make_request, request_value
from genvm_policy.node.runtimes import DISPATCH, new_state

__all__ = [
    "LUA_MODULES",
    "lua_missing",
    "measure_lua",
    "measure_python",
    "request",
    "seed",
    "versus_stock",
]

LUA_MODULES = ("catalog", "policy", "request", "decision")
"""The Lua runtime modules a decision needs (dispatch/genvm_policy/*.lua)."""

_HERE = Path(__file__).resolve().parent


def seed(i: int) -> bytes:
    """The call key of sample `i`: 32 bytes, distinct per sample."""
    return hashlib.sha256(b"genvm-policy benchmark call %d" % i).digest()


def request() -> Request:
    """The benchmark request: a text prompt with GenVM's defaults."""
    return make_request(prompt_bytes=2048)


def measure_python(catalog: Catalog, policy: Policy, name: str, budget: Budget) -> Row:
    """Median and p95 of `decide` in the Python reference."""
    req, cid = request(), catalog_identity(catalog)
    timing = time_calls(lambda i: decide(catalog, policy, req, seed(i), catalog_id=cid), budget)
    peak = python_peak_kib(lambda: decide(catalog, policy, req, seed(0), catalog_id=cid))
    return Row(
        "decide",
        "python",
        len(catalog.routes),
        name,
        timing.median_us,
        timing.p95_us,
        peak,
        len(timing.samples),
    )


def lua_missing() -> str | None:
    """Why the Lua decision cannot be measured yet, or None when its modules exist."""
    absent = [m for m in LUA_MODULES if not (DISPATCH / "genvm_policy" / f"{m}.lua").is_file()]
    if absent:
        return "Lua runtime lacks " + ", ".join(f"genvm_policy/{m}.lua" for m in absent)
    return None


def _driver(catalog: Catalog, policy: Policy, req: Request) -> tuple[Any, Any]:
    lua = new_state("lua53", extra_path=_HERE, binary=True)
    driver = lua.eval('require("lua_decide")')
    driver.setup(
        encode(catalog_value(catalog)),
        encode(policy_value(policy)),
        encode(request_value(req)),
        catalog_identity(catalog).encode(),
    )
    return lua, driver


def measure_lua(catalog: Catalog, policy: Policy, name: str, budget: Budget) -> Row:
    """Median and p95 of `decision.decide` in lupa's `lua53`, timed from Python."""
    routes = len(catalog.routes)
    why = lua_missing()
    if why is not None:
        return Row("decide", "lua53", routes, name, why=why)
    req = request()
    try:
        lua, driver = _driver(catalog, policy, req)
        got = driver.identity(seed(0))
    except Exception as exc:  # any Lua failure becomes the row's reason
        return Row("decide", "lua53", routes, name, why=f"Lua runtime failed: {_short(exc)}")
    want = decide(catalog, policy, req, seed(0)).identity
    if got is None or (got.decode() if isinstance(got, bytes) else got) != want:
        return Row("decide", "lua53", routes, name, why=f"Lua decision identity {got!r} ≠ Python's")
    timing = time_calls(lambda i: driver.decide_once(seed(i)), budget)
    peak = lua_peak_kib(lua, _closure(lua, driver))
    return Row(
        "decide",
        "lua53",
        routes,
        name,
        timing.median_us,
        timing.p95_us,
        peak,
        len(timing.samples),
    )


def versus_stock(
    catalog: Catalog, stock: Policy, policy: Policy, runtime: str, budget: Budget
) -> float | None:
    """The median cost of `policy` over that of `stock`, their decisions timed in turns.

    None when the Lua runtime cannot be measured (see `lua_missing`).
    """
    req = request()
    if runtime == "python":
        cid = catalog_identity(catalog)

        def run(p: Policy) -> Any:
            return lambda i: decide(catalog, p, req, seed(i), catalog_id=cid)

        base, other = time_turns([run(stock), run(policy)], budget)
    else:
        if lua_missing() is not None:
            return None
        keep = [_driver(catalog, p, req) for p in (stock, policy)]
        drivers = [driver for _, driver in keep]
        base, other = time_turns(
            [lambda i: drivers[0].decide_once(seed(i)), lambda i: drivers[1].decide_once(seed(i))],
            budget,
        )
    return other.median_us / base.median_us


def _closure(lua: Any, driver: Any) -> Any:
    make = lua.eval("function(d, s) return function() d.decide_once(s) end end")
    return make(driver, seed(0))


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160]
