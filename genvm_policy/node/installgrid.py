"""The install grid: every request class × 64 seeds, the installed Lua 5.3 against the reference.

Spec: docs/SPEC.md §9.4 (rule 4) and docs/INSTALL.md §5 (step 5). Shell module:
it drives a `lupa` state over the installed hook and starts the stand-alone
interpreter. `installcheck.verify_vectors` runs it after the vector replays.

Rules:
1. The grid is every class of `routability.CLASSES` with `GRID_SEEDS` call keys
   each, seed `n` under role `ROLES[n mod 3]`, so a policy that reads the role
   is compared in every role; its input (`grid_input`) is one canonical CBOR
   item holding the catalog and the policy once, so a large catalog is encoded,
   decoded and bound once, not once per decision.
2. The reference's bytes (`grid_expected`) are the array of what a `decision`
   vector's result holds for each case (`{output: report}` or `{error: {code,
   path}}`), made with one bind and one catalog identity; the installed runtime's
   bytes come from `dispatch/vectors/grid.lua` over the hook's own bundle. They
   must be equal, byte for byte; the first differing case is named otherwise.
3. Under the stand-alone `lua5.3` the same input goes through
   `dispatch/vectors/grid_installed.lua` and a temporary folder removed afterwards.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from genvm_policy.core.catalog import Catalog, catalog_identity, catalog_value
from genvm_policy.core.decision import decide, decision_report
from genvm_policy.core.encoding import Value, decode, encode
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.interpreter import bind
from genvm_policy.core.policy import Policy, policy_value
from genvm_policy.core.request import ROLES, Request, request_value
from genvm_policy.node.routability import CLASSES
from genvm_policy.node.runtimes import DISPATCH, new_state, run_standalone

__all__ = [
    "GRID_SEEDS",
    "first_difference",
    "grid_expected",
    "grid_input",
    "grid_seed",
    "run_installed",
    "run_standalone_grid",
]

GRID_SEEDS = 64
"""Call keys per request class (rule 1)."""

DRIVER = DISPATCH / "vectors" / "grid_installed.lua"


def grid_seed(n: int) -> bytes:
    """The `n`-th call key of the grid: 32 bytes, fixed, so every install checks the same."""
    return hashlib.sha256(b"genvm-policy install grid %d" % n).digest()


def _requests() -> list[tuple[Request, bytes]]:
    """Every case's request and call key; the seeds take the roles in turn (rule 1)."""
    return [
        (replace(req, role=ROLES[n % len(ROLES)]), grid_seed(n))
        for _, req in CLASSES
        for n in range(GRID_SEEDS)
    ]


def _cases() -> list[Value]:
    return [[request_value(req), seed] for req, seed in _requests()]


def grid_input(catalog: Catalog, policy: Policy) -> bytes:
    """The grid's input bytes (rule 1)."""
    return encode(
        {"catalog": catalog_value(catalog), "policy": policy_value(policy), "cases": _cases()}
    )


def grid_expected(catalog: Catalog, policy: Policy) -> bytes:
    """The reference's output bytes (rule 2)."""
    cid = catalog_identity(catalog)
    out: list[Value] = []
    try:
        bound = bind(catalog, policy)
    except PolicyError as err:
        failed: Value = {"error": {"code": err.code, "path": list(err.path)}}
        return encode([failed for _ in _cases()])
    for req, seed in _requests():
        try:
            d = decide(catalog, policy, req, seed, catalog_id=cid, bound=bound)
            out.append({"output": decision_report(d)})
        except PolicyError as err:
            out.append({"error": {"code": err.code, "path": list(err.path)}})
    return encode(out)


def first_difference(got: bytes, want: bytes) -> str:
    """The first case whose result differs, for people: class and seed number."""
    try:
        mine = decode(got)
    except PolicyError:
        return "the installed runtime's output does not decode"
    theirs = decode(want)
    assert isinstance(mine, list) and isinstance(theirs, list)
    for k, (a, b) in enumerate(zip(mine, theirs, strict=False)):
        if a != b:
            seed = k % GRID_SEEDS
            return f"class `{CLASSES[k // GRID_SEEDS][0]}`, seed {seed} (role {ROLES[seed % 3]})"
    return f"{len(mine)} results, not {len(theirs)}"


def run_installed(hook: Path, data: bytes, version: str = "lua53") -> bytes:
    """The grid's output bytes from the runtime bundled in the installed `hook` (rule 2)."""
    lua = new_state(version, binary=True)
    installed = lua.execute('return (require("vectors.installed"))')
    installed.load(str(hook).encode(), str(DISPATCH / "vectors").encode())
    grid: Callable[[bytes], bytes] = lua.execute('return (require("vectors.grid"))').run
    return grid(data)


def run_standalone_grid(hook: Path, data: bytes, interpreter: str) -> tuple[bytes | None, str]:
    """The grid's output bytes under the stand-alone `interpreter` (rule 3), or None and why."""
    with tempfile.TemporaryDirectory(prefix="genvm-policy-grid-") as tmp:
        source, target = Path(tmp) / "grid.cbor", Path(tmp) / "out.cbor"
        source.write_bytes(data)
        run = run_standalone(
            DRIVER, [str(hook.resolve()), str(source), str(target)], interpreter=interpreter
        )
        if run.returncode != 0 or not target.exists():
            lines = (run.stdout + run.stderr).strip().splitlines() or ["no output"]
            return None, lines[-1]
        return target.read_bytes(), ""
