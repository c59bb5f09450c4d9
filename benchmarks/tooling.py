"""Rows for the operator tooling: admission, golden-vector replay and `diversity`.

Admission is timed in-process on the largest policy admission accepts (found
by search against the term limit of docs/SPEC.md §7.4, not timed). Vector
replay and `diversity` are timed as the operator runs them: one CLI process
each, wall time from start to exit, peak RSS of that process from `wait4`.
A command that does not exist yet, or fails, gives a row that says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import catalogs
from benchmarks.harness import Budget, python_peak_kib, time_calls
from benchmarks.report import Row
from genvm_policy.authoring.admission import admit
from genvm_policy.cli.commands.replay import read_log
from genvm_policy.core.catalog import Catalog
from genvm_policy.core.errors import PolicyError
from genvm_policy.core.policy import LIMITS

__all__ = [
    "diversity_args",
    "hostile_log",
    "largest_policy",
    "measure_admission",
    "measure_command",
    "measure_replay_log",
]

_ROOT = Path(__file__).resolve().parent.parent


def diversity_args(folder: Path, routes: int, validators: int, requests: int) -> list[str]:
    """`diversity` arguments for `validators` starter policies × `requests` requests.

    Writes the node config, overlay and requests (as JSON) into `folder`.
    """
    cfg, ovl, reqs = folder / "node.json", folder / "overlay.json", folder / "requests.json"
    cfg.write_text(json.dumps(catalogs.node_config(routes)), encoding="utf-8")
    ovl.write_text(json.dumps(catalogs.overlay(routes)), encoding="utf-8")
    formats = ("text", "json")
    listed = [
        {
            "format": formats[k % 2],
            "images": k % 3 // 2,
            "prompt_bytes": 512 * (k % 16),
            "temperature": (k % 15) / 10,
            "max_tokens": 500 + 100 * (k % 20),
        }
        for k in range(requests)
    ]
    reqs.write_text(json.dumps(listed), encoding="utf-8")
    return [
        "diversity",
        "--catalog",
        str(cfg),
        "--overlay",
        str(ovl),
        "--generate",
        str(validators),
        "--requests",
        str(reqs),
    ]


def _document(catalog: Catalog, n: int) -> dict[str, object]:
    """A policy with `n` gated, scaled scorers, one per provider in turn, and a filter list."""
    providers = sorted({r.provider for r in catalog.routes})
    gates = [
        {
            "gate": {
                "if": {"provider_in": [providers[k % len(providers)]]},
                "then": {"scale": {"by": k + 1, "div": 7, "of": "quality"}},
            }
        }
        for k in range(n)
    ]
    return {
        "filter": [{"has": "quality"}, {"tier_at_least": "basic"}, {"le": {"price_in": "40"}}],
        "score": {"sum": gates},
        "select": {"top_k": {"k": 16, "of": {"sample": {"spread": 2}}}},
        "mutate": [{"jitter": {"temperature": ["-0.1", "0.1"]}}, "use_max_completion_tokens"],
        "on_failure": {
            "overloaded": "next",
            "server": {"retry": {"attempts": 5, "backoff_ms": 60000}},
        },
        "max_attempts": LIMITS["max_attempts"],
    }


def largest_policy(catalog: Catalog) -> tuple[dict[str, object], int]:
    """The largest `_document` admission accepts, and its number of scorers."""
    admit(_document(catalog, 1), catalog)  # the smallest must pass: its error says why not
    lo, hi = 1, LIMITS["list"]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            admit(_document(catalog, mid), catalog)
            lo = mid
        except PolicyError:
            hi = mid - 1
    return _document(catalog, lo), lo


def measure_admission(catalog: Catalog, budget: Budget) -> Row:
    """Median and p95 of `admit` on the largest admissible policy, against `catalog`."""
    doc, n = largest_policy(catalog)
    timing = time_calls(lambda _: admit(doc, catalog), budget)
    peak = python_peak_kib(lambda: admit(doc, catalog))
    row = Row(
        "admission",
        "python",
        len(catalog.routes),
        f"largest ({n} gated scorers)",
        timing.median_us,
        timing.p95_us,
        peak,
        len(timing.samples),
    )
    return row


# Peak RSS must be the command's own: a child forked from this (large) process would
# inherit its high-water mark, so a fresh, small interpreter starts the command.
_WRAPPER = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def measure_command(name: str, runtime: str, routes: int | None, args: list[str]) -> Row:
    """Wall time and peak RSS of one `genvm-policy ARGS…` run; its error when it fails."""
    cli = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "genvm_policy.cli", *args]
    start = time.perf_counter_ns()
    proc = subprocess.run(
        cli, cwd=_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    elapsed = time.perf_counter_ns() - start
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    label = "genvm-policy " + " ".join(args)
    if proc.returncode != 0:
        last = lines[-2] if len(lines) >= 2 else f"exit status {proc.returncode}"
        return Row(name, runtime, routes, None, why=f"`{label}` failed: {last[:160]}")
    us = elapsed / 1000
    peak = int(lines[-1])
    return Row(name, runtime, routes, None, us, us, peak, 1, extra={"command": label})


def hostile_log(size: int) -> bytes:
    """About `size` bytes of the log lines that cost most to read, in turns.

    Huge exponents (the slowest kind per byte), bracket towers past the depth
    bound, long numbers, and other modules' lines.
    """
    kinds = [
        b'{"a": 1e300000000}',
        b'{"a": ' + b"[" * 4000 + b"]" * 4000 + b"}",
        b'{"a": ' + b"9" * 5000 + b"}",
        b'{"level":"info","message":"other module","ts":"1"}',
    ]
    lines: list[bytes] = []
    total = 0
    while total < size:
        line = kinds[len(lines) % len(kinds)]
        lines.append(line)
        total += len(line) + 1
    return b"\n".join(lines)


def measure_replay_log(budget: Budget) -> Row:
    """Median time of reading 1 MiB of hostile log lines within replay's bounds."""
    data = hostile_log(1 << 20)
    timing = time_calls(lambda _: read_log(data), budget)
    peak = python_peak_kib(lambda: read_log(data))
    return Row(
        "replay_log",
        "python",
        None,
        "1 MiB of hostile lines",
        timing.median_us,
        timing.p95_us,
        peak,
        len(timing.samples),
    )
