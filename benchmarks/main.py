"""`benchmarks/run [--quick] [--json FILE] [--sizes N,…]`: every benchmark of the project.

Prints one table (targets and PASS/MISS per row), then the ratios measured in
this run, then the machine. `--quick` keeps the sample counts small and skips
the 1,000-validator `diversity` run and hook start-up at 10,000 routes; it
still measures `decide` in both runtimes at 100, 1,000 and 10,000 routes.
`--sizes` limits the catalog sizes (the smoke test runs `--sizes 10`). Exit
status 0 whenever the run completes, misses included: these machines are
noisy, so the table is the verdict.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import catalogs, hook, policies
from benchmarks.decide import measure_lua, measure_python, versus_stock
from benchmarks.harness import Budget
from benchmarks.report import Row, format_table, judge, ratios
from benchmarks.tooling import (
    diversity_args,
    measure_admission,
    measure_command,
    measure_replay_log,
)
from genvm_policy.authoring.admission import admit
from genvm_policy.core.catalog import Catalog

__all__ = ["machine", "main", "run"]


def _budgets(quick: bool, routes: int) -> Budget:
    """Samples per `decide` cell: fewer at larger sizes, where one decision is slow."""
    if quick:
        if routes > 1000:
            # One sample made the growth ratio a coin toss on a shared machine.
            return Budget(warmup=1, samples=5, seconds=0.5, least=3)
        return Budget(warmup=1, samples=30, seconds=0.25, least=3)
    if routes > 1000:
        return Budget(warmup=1, samples=20, seconds=2.0, least=3)
    return Budget(warmup=5, samples=400, seconds=2.0, least=5)


def machine() -> dict[str, Any]:
    """The machine the numbers were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    from genvm_policy.node.runtimes import new_state

    return {
        "nproc": nproc,
        "cpu": cpu,
        "python": platform.python_version(),
        "lua53": new_state("lua53").eval("_VERSION"),
        "lupa": _lupa_version(),
        "platform": platform.platform(),
    }


def _lupa_version() -> str:
    import lupa

    return str(getattr(lupa, "__version__", "unknown"))


def run(quick: bool, sizes: tuple[int, ...], log: Any) -> list[Row]:
    """Every row of the run, in table order."""
    rows: list[Row] = []
    built = {n: catalogs.build(n) for n in sizes}
    for n in sizes:
        for name in policies.NAMES:
            policy = policies.load(name, built[n])
            for measure in (measure_python, measure_lua):
                row = measure(built[n], policy, name, _budgets(quick, n))
                print(f"  decide {row.runtime} {n} {name}: {row.median_us or row.why}", file=log)
                rows.append(row)
    if 1000 in sizes:
        # The costliest policy the cost bound admits at 1,000 routes, timed at 100 and 1,000.
        doc = policies.costliest(built[1000])
        for n in (m for m in (100, 1000) if m in sizes):
            row = measure_lua(
                built[n], admit(doc, built[n]), policies.COSTLIEST, _budgets(quick, n)
            )
            row.name = "decide_costliest"
            print(f"  decide_costliest lua53 {n}: {row.median_us or row.why}", file=log)
            rows.append(row)
    # Hook start-up at 10,000 routes takes seconds per sample: the full run only.
    wanted = (10, 1000) if quick else (10, 1000, 10000)
    hook_sizes = [n for n in wanted if n in sizes]
    rows += hook.measure(built, 100 if 100 in sizes else min(sizes), hook_sizes, quick)
    for runtime in ("python", "lua53"):
        rows.append(
            measure_command(
                "vectors_replay", runtime, None, ["vectors", "verify", "--runtime", runtime]
            )
        )
    small = 100 if 100 in sizes else min(sizes)
    budget = Budget(warmup=2, samples=20 if quick else 200, seconds=1.0 if quick else 5.0)
    rows.append(measure_admission(built[small], budget))
    rows.append(measure_replay_log(Budget(warmup=1, samples=5 if quick else 20, seconds=2.0)))
    if quick:
        rows.append(Row("diversity", "python", None, None, why="skipped by --quick (1,000 × 100)"))
    else:
        with tempfile.TemporaryDirectory(prefix="genvm-policy-bench-") as tmp:
            args = diversity_args(Path(tmp), 100, 1000, 100)
            rows.append(measure_command("diversity", "python", 100, args))
    # Last, so the Lua states these build come after every other row.
    if 100 in sizes:
        _versus_stock(rows, built[100], _budgets(quick, 100))
    judge(rows)
    return rows


def _versus_stock(rows: list[Row], catalog: Catalog, budget: Budget) -> None:
    """Each real policy's cost over stock-greybox's at 100 routes, timed in turns."""
    stock = policies.load(policies.STOCK, catalog)
    for row in rows:
        if row.name == "decide" and row.routes == 100 and row.policy != policies.STOCK:
            assert row.policy is not None
            policy = policies.load(row.policy, catalog)
            ratio = versus_stock(catalog, stock, policy, row.runtime, budget)
            if ratio is not None:
                row.extra["vs_stock_in_turns"] = round(ratio, 3)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table and the ratios, and write `--json` when asked."""
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sample counts; under 60 s")
    parser.add_argument("--json", metavar="FILE", help="write the rows and the machine as JSON")
    parser.add_argument(
        "--sizes",
        help="catalog sizes in routes, comma-separated (default: "
        "10,100,1000,10000; with --quick 100,1000,10000)",
    )
    args = parser.parse_args(argv)
    default = catalogs.SIZES[1:] if args.quick else catalogs.SIZES
    text = args.sizes or ",".join(map(str, default))
    try:
        sizes = tuple(sorted({int(s) for s in text.split(",")}))
        for n in sizes:
            if n not in catalogs.SHAPES:
                raise ValueError(n)
    except ValueError:
        parser.error(f"--sizes takes sizes from {sorted(catalogs.SHAPES)}, got `{text}`")
    rows = run(args.quick, sizes, sys.stderr)
    host = machine()
    print(format_table(rows))
    print()
    for line in ratios(rows):
        print(line)
    print()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in host.items()))
    if args.json:
        # A list of rows (benchmarks/README.md), each naming the run it came from.
        run_info = {"quick": args.quick, "machine": host}
        data = [{**r.as_json(), **run_info} for r in rows]
        Path(args.json).write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
