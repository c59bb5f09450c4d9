"""Verification of the installed hook before the switch: sample calls and vectors.

Spec: docs/INSTALL.md §5 (step 5, `verify`) and docs/OPERATOR.md ("Installing").
Shell module: it reads the golden vector files, drives `lupa` states and starts
the stand-alone interpreter. `genvm-policy install` runs `verify_all` on the
files it has just put in place; any failure is `INSTALL_VERIFY` and the
installer undoes the run.

Rules:
1. Sample calls: the installed hook is loaded by `demohost` (GenVM's globals,
   `__llm.providers` from the compiled catalog's GenVM view) and must load the
   policy without falling back, naming at load exactly the classes
   `routability.analyse` finds without a route; each of `SAMPLES` must log one decision record
   that `replay` finds equal to the reference.
2. The modules under test are the installed ones: the installed hook file runs
   in a fresh sandboxed Lua 5.3 state through `dispatch/vectors/installed.lua`,
   which narrows `require` to the hook's `package.preload` plus the project's
   vector runners (`vectors.*`); nothing of `dispatch/genvm_policy/` is loaded.
3. Golden vectors: every `vectors/*.cbor` of the project and every frozen
   `vectors/regressions/*.cbor` is replayed there (docs/VECTORS.md, "Pass
   rule", "Regressions"); kinds the reference alone replays are counted as not
   run.
4. The policy's own vectors: for every request class
   (`routability.CLASSES`), `OWN_SEEDS` decisions (kind `decision`) and,
   with two of those seeds, two scripted failure paths (kind `cascade`: one
   overload then a success; two server errors then a success), all computed by
   the reference now, on the node's catalog and the operator's policy, and
   replayed in the installed runtime. They are never written to the project;
   the stand-alone run reads them from a temporary folder removed afterwards.
5. The same two replays run under the stand-alone `lua5.3` through
   `dispatch/vectors/verify_installed.lua` when it is on `PATH`; when it is not,
   the output says so and verification goes on (it is an independent check,
   not a requirement of the node).
6. Each step reports one line with its counts, e.g. `golden vectors: N passed
   in Lua 5.3 (installed files)`.
7. Then the decision grid of `installgrid` (every request class × 64 seeds) in
   each runtime: the installed one's bytes must equal the reference's.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genvm_policy.core.catalog import Catalog, catalog_value, genvm_view
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import Policy, policy_value
from genvm_policy.core.request import request_value
from genvm_policy.node.demohost import DemoHost
from genvm_policy.node.hookmodel import RECORD_MESSAGE, UNROUTABLE_MESSAGE
from genvm_policy.node.installgrid import (
    GRID_SEEDS,
    first_difference,
    grid_expected,
    grid_input,
    run_installed,
    run_standalone_grid,
)
from genvm_policy.node.replay import Record, check
from genvm_policy.node.routability import CLASSES, analyse
from genvm_policy.node.runtimes import DISPATCH, STANDALONE, new_state, run_standalone
from genvm_policy.resources import resource
from genvm_policy.vectors import Case, Report, VectorFile, verify_file, write_file
from genvm_policy.vectors.kinds import spec_sections
from genvm_policy.vectors.regressions import FOLDER
from genvm_policy.vectors.run import run as reference_run
from genvm_policy.vectors.verify import Runner

__all__ = [
    "GOLDEN",
    "OWN_SEEDS",
    "SAMPLES",
    "installed_runner",
    "own_vectors",
    "verify_all",
    "verify_installed",
    "verify_vectors",
]

GOLDEN = resource("vectors")
"""The golden vector files of the project (docs/VECTORS.md), as the package carries them."""

OWN_SEEDS = 4
"""Seeds per request class in the policy's own `decision` vectors (rule 4); the grid of
`installgrid` adds 64 per class without a catalog per case."""

VECTORS_LUA = DISPATCH / "vectors"
DRIVER = VECTORS_LUA / "verify_installed.lua"

# entry point -> sample arguments each verification sends through the installed hook
SAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ExecPrompt", {"prompt": "Summarise the proposal.", "response_format": "text", "images": []}),
    ("ExecPrompt", {"prompt": "Give the price as JSON.", "response_format": "json", "images": []}),
    (
        "ExecPromptTemplate",
        {"template": "EqComparative", "leader_answer": "4", "validator_answer": "4",
         "principle": "same number"},
    ),
    (
        "ExecPromptTemplate",
        {"template": "EqNonComparativeLeader", "task": "summarise", "criteria": "short",
         "input": "a long text"},
    ),
)  # fmt: skip  # a table laid out by hand in rows

# cascade scripts of the policy's own vectors (rule 4): name -> provider outcomes in order
_SCRIPTS: tuple[tuple[str, list[Any]], ...] = (
    ("overloaded_then_ok", [{"kind": "http", "status": 429}, "ok"]),
    ("server_twice_then_ok", [{"kind": "http", "status": 500}] * 2 + ["ok"]),
)
_SUMMARY = re.compile(r"(\d+) passed, (\d+) failed")
_NOT_RUN = re.compile(r"(\d+) cases of reference-only kinds not run")

Say = Callable[[str], None]


def _verify_error(message: str, hint: str | None = None) -> PolicyError:
    return PolicyError("INSTALL_VERIFY", (), message, hint)


# -- rule 1: sample calls -------------------------------------------------------------


def verify_installed(
    hook: Path, catalog: Catalog, policy: Policy, salt: bytes, version: str = "lua53"
) -> int:
    """Run the samples through the installed `hook` and replay every record (rule 1).

    Returns the number of records that agreed; raises `INSTALL_VERIFY` otherwise.
    """
    try:
        host = DemoHost(str(hook), genvm_view(catalog), version=version)
    except Exception as err:  # any Lua load failure (a lupa error) fails verification
        raise _verify_error(f"the installed hook does not load: {err}") from None
    unroutable = [log for log in host.logs if log.get("message") == UNROUTABLE_MESSAGE]
    faults = [
        log for log in host.logs if log.get("message") not in (RECORD_MESSAGE, UNROUTABLE_MESSAGE)
    ]
    if faults:
        fault = faults[0].get("fault", faults[0].get("message"))
        raise _verify_error(
            f"the installed hook fell back at load: `{fault!s}`",
            "the compiled policy, the salt or the GenVM view do not match",
        )
    # The hook names at load the classes it plans nothing for: the analysis' own.
    want = [r.name for r in analyse(catalog, policy) if r.state != "routed"]
    logged = unroutable[0].get("classes") if unroutable else None
    said = [str(name) for name in logged] if isinstance(logged, list | tuple) else []
    if said != want or len(unroutable) > 1:
        raise _verify_error(
            f"the installed hook logs {said or 'no'} unroutable classes at load, "
            f"the reference finds {want or 'none'}",
            "the Lua runtime disagrees with the reference: do not switch to it",
        )
    agreed = 0
    for number, (entry, args) in enumerate(SAMPLES):
        ctx = host.new_ctx({"tx_id": f"0xverify{number}", "node_address": "0xverify"}, "verify")
        result = host.call(entry, args, ctx)
        records = [log for log in result.logs if log.get("message") == RECORD_MESSAGE]
        if len(records) != 1:
            raise _verify_error(f"sample {number} logged {len(records)} decision records, not 1")
        verdict = check(Record(number, records[0]), catalog, policy, salt, catalog)
        if verdict.differs is not None:
            detail = f" ({verdict.detail})" if verdict.detail else ""
            raise _verify_error(
                f"sample {number} ({entry}): the installed hook and the reference differ "
                f"at `{verdict.differs}`{detail}",
                "the Lua runtime disagrees with the reference: do not switch to it",
            )
        agreed += 1
    return agreed


# -- rule 4: the policy's own vectors -------------------------------------------------


def _seed(n: int) -> bytes:
    return hashlib.sha256(b"genvm-policy install seed %d" % n).digest()


def own_vectors(catalog: Catalog, policy: Policy) -> tuple[VectorFile, ...]:
    """The policy's own `decision` and `cascade` vectors on `catalog` (rule 4)."""
    base = {"catalog": catalog_value(catalog), "policy": policy_value(policy)}
    decisions: list[Case] = []
    cascades: list[Case] = []
    for r, (_, request) in enumerate(CLASSES):
        what = f"{request.entry} {request.format} request, {request.images} images"
        data = {**base, "request": request_value(request)}
        for n in range(OWN_SEEDS):
            case = {**data, "seed": _seed(n)}
            name = f"request{r}_seed{n}"
            decisions.append(Case(name, f"{what}, seed {n}", case, reference_run("decision", case)))
        for n in range(2):
            for script_name, script in _SCRIPTS:
                case = {**data, "seed": _seed(n), "script": script}
                try:
                    expected = reference_run("cascade", case)
                except PolicyError:
                    continue  # the plan calls past the script: a script too short, no vector
                name = f"request{r}_seed{n}_{script_name}"
                cascades.append(Case(name, f"{what}, seed {n}, {script_name}", case, expected))
    sections = spec_sections()
    return tuple(
        VectorFile(kind, sections[kind], ("python", "lua"), tuple(cases))
        for kind, cases in (("decision", decisions), ("cascade", cascades))
    )


# -- rules 2, 3 and 5: replays against the installed files ----------------------------


def installed_runner(hook: Path, version: str = "lua53") -> tuple[Runner, int]:
    """The vector runner over the runtime bundled in `hook` (rule 2), and its module count."""
    lua = new_state(version, binary=True)
    installed = lua.execute('return (require("vectors.installed"))')
    try:
        modules: int = installed.load(str(hook).encode(), str(VECTORS_LUA).encode())
        runner = lua.execute('return (require("vectors.runner"))')
    except Exception as err:  # a lupa error: the hook or its bundle is broken
        raise _verify_error(f"the installed hook's runtime does not load: {err}") from None

    def run(kind: str, data: bytes) -> bytes:
        result: bytes = runner.run(kind.encode(), data)
        return result

    return run, modules


def _golden_paths(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.cbor")) + sorted((folder / FOLDER).glob("*.cbor"))


def _golden_files(folder: Path) -> list[tuple[str, bytes]]:
    files = _golden_paths(folder)
    if not files:
        raise _verify_error(
            f"there are no golden vectors in `{folder}`",
            "run `genvm-policy vectors generate` in the genvm-policy checkout",
        )
    return [(path.name, path.read_bytes()) for path in files]


def _replay(runner: Runner, files: Sequence[tuple[str, bytes]]) -> Report:
    report = Report()
    for name, data in files:
        report.add(verify_file(name, data, runner, "lua"))
    return report


def _standalone(hook: Path, paths: Sequence[Path], interpreter: str) -> Report:
    run = run_standalone(
        DRIVER, [str(hook.resolve()), *(str(p.resolve()) for p in paths)], interpreter=interpreter
    )
    report = Report()
    lines = run.stdout.splitlines()
    summary = _SUMMARY.fullmatch(lines[-1]) if lines else None
    report.failures = [line for line in lines if line.startswith("FAIL ")]
    if summary is None or run.returncode not in (0, 1):
        detail = (run.stderr.strip().splitlines() or ["no summary line"])[-1]
        report.failed = 1
        report.failures.append(f"FAIL the stand-alone verifier stopped: {detail}")
        return report
    report.passed, report.failed = int(summary.group(1)), int(summary.group(2))
    report.not_run = sum(int(m.group(1)) for m in map(_NOT_RUN.fullmatch, lines) if m)
    return report


def _tell(what: str, where: str, report: Report, say: Say) -> None:
    if not report.ok:
        first = report.failures[0] if report.failures else "no case ran"
        raise _verify_error(
            f"{what}: {report.failed} failed, {report.passed} passed in {where}; {first}",
            "the installed runtime disagrees with the reference: do not switch to it",
        )
    note = f", {report.not_run} reference-only not run" if report.not_run else ""
    say(f"{what}: {report.passed} passed in {where}{note}")


def verify_vectors(
    hook: Path,
    catalog: Catalog,
    policy: Policy,
    say: Say,
    *,
    golden: Path = GOLDEN,
    interpreter: str = STANDALONE,
) -> None:
    """Replay the golden and the policy's own vectors against the installed `hook` (rules 2-6)."""
    golden_files = _golden_files(golden)
    own = [(f"{f.kind}.cbor", write_file(f)) for f in own_vectors(catalog, policy)]
    runner, modules = installed_runner(hook)
    where = "Lua 5.3 (installed files)"
    say(f"runtime: {modules} modules bundled in the installed hook")
    _tell("golden vectors", where, _replay(runner, golden_files), say)
    _tell("policy vectors", where, _replay(runner, own), say)
    grid, want = grid_input(catalog, policy), grid_expected(catalog, policy)
    _tell_grid(where, run_installed(hook, grid), "", want, say)
    if shutil.which(interpreter) is None:
        say(
            f"stand-alone {interpreter}: not on PATH, skipped (on Debian: apt-get install "
            f"{interpreter})"
        )
        return
    where = f"stand-alone {interpreter} (installed files)"
    _tell("golden vectors", where, _standalone(hook, _golden_paths(golden), interpreter), say)
    with tempfile.TemporaryDirectory(prefix="genvm-policy-verify-") as tmp:
        paths = []
        for name, data in own:
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(path)
        _tell("policy vectors", where, _standalone(hook, paths, interpreter), say)
    _tell_grid(where, *run_standalone_grid(hook, grid, interpreter), want, say)


def _tell_grid(where: str, got: bytes | None, why: str, want: bytes, say: Say) -> None:
    """Report the install grid (rule 7): equal bytes, or the first case that differs."""
    if got != want:
        detail = why if got is None else first_difference(got, want)
        raise _verify_error(
            f"decision grid: the installed runtime and the reference differ in {where}: {detail}",
            "the installed runtime disagrees with the reference: do not switch to it",
        )
    say(
        f"decision grid: {len(CLASSES) * GRID_SEEDS} decisions ({len(CLASSES)} request classes "
        f"x {GRID_SEEDS} seeds) agree in {where}"
    )


def verify_all(
    hook: Path, catalog: Catalog, policy: Policy, salt: bytes, say: Say, **options: Any
) -> None:
    """Every pre-switch check on the installed `hook`, each reported through `say`.

    `options` go to `verify_vectors` (`golden`, `interpreter`).
    """
    agreed = verify_installed(hook, catalog, policy, salt)
    say(f"installed hook in Lua 5.3: {agreed} sample decisions agree with the reference")
    verify_vectors(hook, catalog, policy, say, **options)
