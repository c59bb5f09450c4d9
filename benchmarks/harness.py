"""The timing harness: warm-up, per-call samples, median and p95, peak memory.

Python operations are timed with `time.perf_counter_ns` around each call; Lua
operations are timed the same way from Python around one call into a `lupa`
state (GenVM's sandbox has no `os.clock`), so each Lua sample includes one
Python → Lua call (about a microsecond). A run stops at its sample count or its
time budget, whichever comes first, but never with fewer than `least` samples.

Peak memory is what one operation allocates above what was live before it:
`tracemalloc`'s peak for Python; for Lua, `collectgarbage("count")` after the
operation with the collector stopped, minus the count before (an upper bound on
the peak, since nothing is freed meanwhile).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Budget",
    "Timing",
    "lua_peak_kib",
    "percentile",
    "python_peak_kib",
    "time_calls",
    "time_turns",
]


@dataclass(frozen=True)
class Budget:
    """How long to measure one cell: warm-up calls, then samples up to a count or a time."""

    warmup: int
    samples: int
    seconds: float
    least: int = 3


@dataclass(frozen=True)
class Timing:
    """Samples of one operation, in nanoseconds, in the order taken."""

    samples: tuple[int, ...]

    @property
    def median_us(self) -> float:
        """The median sample in microseconds."""
        return percentile(self.samples, 50) / 1000

    @property
    def p95_us(self) -> float:
        """The 95th percentile (nearest rank) in microseconds."""
        return percentile(self.samples, 95) / 1000


def percentile(samples: tuple[int, ...] | list[int], q: int) -> int:
    """The nearest-rank `q`-th percentile: the smallest sample with at least q% at or below it."""
    ordered = sorted(samples)
    rank = max(1, -(-q * len(ordered) // 100))
    return ordered[rank - 1]


def time_calls(op: Callable[[int], Any], budget: Budget) -> Timing:
    """Call `op(i)` for warm-up, then time each call until the budget is spent."""
    return time_turns([op], budget)[0]


def time_turns(ops: list[Callable[[int], Any]], budget: Budget) -> list[Timing]:
    """Time every `op(i)` in turns, one sample of each per round, until the budget is spent.

    Cells timed one after the other see different moments of a shared
    machine's load; in turns, all see the same moments, so the ratio of their
    medians holds steady where the medians themselves drift.
    """
    for i in range(budget.warmup):
        for op in ops:
            op(i)
    samples: list[list[int]] = [[] for _ in ops]
    deadline = time.perf_counter_ns() + int(budget.seconds * 1e9)
    i = budget.warmup
    while len(samples[0]) < budget.samples:
        for op, taken in zip(ops, samples, strict=True):
            start = time.perf_counter_ns()
            op(i)
            taken.append(time.perf_counter_ns() - start)
        i += 1
        if time.perf_counter_ns() > deadline and len(samples[0]) >= budget.least:
            break
    return [Timing(tuple(taken)) for taken in samples]


def python_peak_kib(op: Callable[[], Any]) -> int:
    """Peak KiB that `tracemalloc` sees `op()` allocate above what was live before."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        op()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return -(-(peak - before) // 1024)


_LUA_PEAK = """
local op = ...
collectgarbage("collect")
collectgarbage("stop")
local before = collectgarbage("count")
op()
local after = collectgarbage("count")
collectgarbage("restart")
collectgarbage("collect")
return after - before
"""


def lua_peak_kib(lua: Any, op: Any) -> int:
    """KiB the Lua function `op` allocates in one call with the collector stopped."""
    kib = lua.execute(_LUA_PEAK, op)
    return int(-(-kib // 1))
