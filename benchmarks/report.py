"""Rows, targets and the printed table of a benchmark run.

A row is one measured cell (operation × runtime × size × policy) or a cell that
could not be measured, with the reason instead of numbers: never a made-up
value. `judge` attaches each row's target and PASS/MISS; `ratios` computes the
ratios the issue asks for from rows of the same run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["GROWTH_LIMIT", "Row", "format_table", "judge", "nlogn_ratio", "ratios"]

GROWTH_LIMIT = 15.0
"""Decision time at 10,000 routes over 1,000 routes must stay under this."""

# (name, runtime, routes) → target median in µs; None matches any value.
_TARGETS: list[tuple[str, str | None, int | None, float, str]] = [
    ("decide", "lua53", 100, 350.0, "median < 350 µs"),
    ("decide", "lua53", 1000, 3000.0, "median < 3 ms"),
    ("decide_costliest", "lua53", None, 3000.0, "median < 3 ms (cost bound)"),
    ("decide", "python", 100, 700.0, "median < 700 µs"),
    ("hook_call", "lua53", 100, 1000.0, "median < 1 ms"),
    ("hook_start", "lua53", 1000, 50000.0, "median < 50 ms"),
    ("vectors_replay", None, None, 10_000_000.0, "total < 10 s"),
    ("diversity", None, None, 60_000_000.0, "total < 60 s"),
    ("replay_log", None, None, 1_000_000.0, "median < 1 s per MiB"),
]


@dataclass
class Row:
    """One cell of the table; `why` is set instead of numbers when it was not measured."""

    name: str
    runtime: str
    routes: int | None
    policy: str | None
    median_us: float | None = None
    p95_us: float | None = None
    peak_kib: int | None = None
    samples: int = 0
    why: str | None = None
    target: str | None = None
    target_us: float | None = None
    status: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The row as the `--json` file carries it (extra keys flattened in)."""
        data = asdict(self)
        data.update(data.pop("extra"))
        return data


def nlogn_ratio(small: int, large: int) -> float:
    """The growth N log N predicts from `small` to `large` routes."""
    return (large * math.log2(large)) / (small * math.log2(small))


def judge(rows: list[Row]) -> None:
    """Attach targets and PASS/MISS (or `not measured`) to every row, and growth ratios."""
    for row in rows:
        for name, runtime, routes, limit, text in _TARGETS:
            if row.extra.get("host", "plain") != "plain":
                continue  # measured under a stand-in host that GenVM's is not: no verdict
            if row.name == name and runtime in (None, row.runtime) and routes in (None, row.routes):
                row.target, row.target_us = text, limit
        if row.why is not None:
            row.status = "not measured"
        elif row.target_us is not None and row.median_us is not None:
            row.status = "PASS" if row.median_us < row.target_us else "MISS"
    by_key = {(r.name, r.runtime, r.routes, r.policy): r for r in rows}
    for row in rows:
        small = by_key.get((row.name, row.runtime, 1000, row.policy))
        if row.name != "decide" or row.routes != 10000 or row.median_us is None:
            continue
        if small is None or small.median_us is None:
            continue
        growth = row.median_us / small.median_us
        row.extra["growth_1000_to_10000"] = round(growth, 2)
        row.extra["nlogn_expected"] = round(nlogn_ratio(1000, 10000), 2)
        row.target = (row.target + "; " if row.target else "") + "growth < 15×"
        ok = growth < GROWTH_LIMIT and row.status != "MISS"
        row.status = "PASS" if ok else "MISS"


def ratios(rows: list[Row]) -> list[str]:
    """The ratios the README lists, each from rows of this run, as printable lines."""
    lines: list[str] = []
    decide = {(r.runtime, r.routes, r.policy): r for r in rows if r.name == "decide"}
    for (runtime, routes, policy), row in sorted(decide.items(), key=lambda kv: str(kv[0])):
        stock = decide.get((runtime, routes, "stock-greybox"))
        if routes != 100 or policy == "stock-greybox" or stock is None:
            continue
        if row.median_us is None or stock.median_us is None:
            continue
        # The judged ratio is the one timed in turns (`time_turns`); the ratio of
        # the two cells' medians is shown beside it.
        cells = row.median_us / stock.median_us
        r = row.extra.get("vs_stock_in_turns", cells)
        verdict = "PASS" if r <= 3 else "MISS"
        lines.append(
            f"{runtime:7} {policy:16} / stock-greybox at 100 routes: {r:5.2f}× in turns "
            f"(cells' medians {cells:4.2f}×) (≤ 3×) {verdict}"
        )
    plain = {
        (r.name, r.routes): r
        for r in rows
        if r.name.startswith("hook_") and r.extra.get("host") == "plain"
    }
    for row in rows:
        lupa = plain.get((row.name, row.routes))
        if row.runtime != "mlua" or lupa is None or not (row.median_us and lupa.median_us):
            continue
        lines.append(
            f"{row.name} at {row.routes} routes: mlua {row.median_us:.0f} µs / lupa "
            f"{lupa.median_us:.0f} µs = {row.median_us / lupa.median_us:4.2f}×"
        )
    for row in rows:
        if row.runtime == "lua53" and row.target_us is not None and row.median_us is not None:
            lines.append(
                f"lua53   {row.name:10} {row.routes!s:>6} {row.policy or '-':16} "
                f"median / target: {row.median_us / row.target_us:5.2f}"
            )
    for (runtime, routes, policy), row in sorted(decide.items(), key=lambda kv: str(kv[0])):
        other = decide.get(("python", routes, policy))
        if runtime != "lua53" or other is None or other.median_us is None or row.median_us is None:
            continue
        lines.append(
            f"lua53 / python  {routes:>6} {policy:16}: {row.median_us / other.median_us:5.2f}"
        )
    for row in rows:
        if "growth_1000_to_10000" in row.extra:
            lines.append(
                f"{row.runtime:7} {row.policy:16} growth 1,000 → 10,000: "
                f"{row.extra['growth_1000_to_10000']:6.2f}× (N log N predicts "
                f"{row.extra['nlogn_expected']}×; limit 15×)"
            )
    return lines


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def format_table(rows: list[Row]) -> str:
    """The markdown table of a run: one line per row, numbers in µs and KiB."""
    head = (
        "| name | runtime | routes | policy | median µs | p95 µs | peak KiB | n | target | status |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        status = r.status or ""
        if r.why is not None:
            status = f"not measured: {r.why}"
        lines.append(
            f"| {r.name} | {r.runtime} | {r.routes if r.routes is not None else '-'} | "
            f"{r.policy or '-'} | {_num(r.median_us)} | {_num(r.p95_us)} | "
            f"{r.peak_kib if r.peak_kib is not None else '-'} | {r.samples} | "
            f"{r.target or ''} | {status} |"
        )
    return "\n".join(lines)
