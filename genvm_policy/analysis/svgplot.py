"""A small dependency-free SVG writer: stacked bars of shares, with their figures as text.

Spec: docs/SPEC.md §12 (Diversity), the picture. Tooling: floats for layout.

Rules:
1. Each row is a label, one or more bars `(caption, segments)` and lines of
   notes printed beside them; a segment is `(series, share)`, shares in
   0 … 1. Every bar is drawn left to right in the order of `series`, one
   colour per series, and the legend lists the series in that same order.
2. `series` beyond the palette are drawn in one grey as `other`.
3. Everything a reader needs is text, not a tooltip (tooltips are lost when a
   chart is printed or converted): a share of at least `INSIDE` is written on
   its segment, the smaller ones on a line under the bar; marks at 1/3 and
   1/2 (`MARKS`) cross every bar.
4. Every text is XML-escaped, so any family name gives well-formed XML; the
   same input gives the same bytes (no clock, no random ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["INSIDE", "MARKS", "PALETTE", "Bar", "Row", "stacked_bars"]

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
)  # fmt: skip  # a table laid out by hand in rows
OTHER = "#bab0ac"
MARKS = ((1 / 3, "1/3"), (1 / 2, "1/2"))
INSIDE = 0.07
"""The smallest share written on its own segment; smaller ones go under the bar."""
BAR, THIN, LINE, LABEL, WIDTH, NOTES, PAD = 20, 13, 13, 200, 520, 520, 12


@dataclass(frozen=True)
class Bar:
    """One stacked bar: a caption and its `(series, share)` segments."""

    caption: str
    segments: Sequence[tuple[str, float]]


@dataclass(frozen=True)
class Row:
    """One request class: its label, its bars (the first drawn thick) and notes beside."""

    label: str
    bars: Sequence[Bar]
    notes: Sequence[str] = ()


def _esc(body: str) -> str:
    # XML 1.0 forbids most control characters even when escaped: show them as `?`.
    return escape("".join(c if c.isprintable() else "?" for c in body))


def _text(
    x: float, y: float, body: str, anchor: str = "start", size: int = 12, fill: str = "#000"
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{fill}">{_esc(body)}</text>'
    )


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _bar(
    y: float, height: int, bar: Bar, order: dict[str, int], colour: dict[str, str]
) -> tuple[list[str], list[str]]:
    """The SVG of one bar and the `name share` texts of segments too small to hold it."""
    out, small = [], []
    x = float(LABEL + PAD)
    first = len(order)
    ranked = sorted(bar.segments, key=lambda seg: (order.get(seg[0], first), seg[0].encode()))
    for name, share in ranked:
        share = max(0.0, min(1.0, share))
        w = WIDTH * share
        fill = colour.get(name, OTHER)
        out.append(
            f'<rect x="{x:.2f}" y="{y:.1f}" width="{w:.2f}" height="{height}" fill="{fill}"/>'
        )
        if share >= INSIDE:
            size = 11 if height >= BAR else 9
            out.append(_text(x + w / 2, y + height - 4, _percent(share), "middle", size, "#fff"))
        elif share > 0:
            small.append(f"{name} {_percent(share)}")
        x += w
    return out, small


def stacked_bars(
    title: str,
    series: Sequence[str],
    rows: Sequence[Row],
    footer: Sequence[str] = (),
) -> str:
    """An SVG document of stacked bars with every share and note as text (rules 1–4)."""
    named = list(series[: len(PALETTE)])
    colour = {name: PALETTE[i] for i, name in enumerate(named)}
    order = {name: i for i, name in enumerate(series)}
    legend = [*named, "other"] if len(series) > len(PALETTE) else named
    body: list[str] = []
    y = float(PAD + 34)
    for row in rows:
        top = y
        body.append(_text(LABEL + PAD - 8, y + 14, row.label, "end", 13))
        for n, bar in enumerate(row.bars):
            height = BAR if n == 0 else THIN
            rects, small = _bar(y, height, bar, order, colour)
            if n:
                body.append(_text(LABEL + PAD - 8, y + height - 2, bar.caption, "end", 10, "#555"))
            body.extend(rects)
            y += height + 2
            if small:
                body.append(_text(LABEL + PAD, y + 10, "also: " + ", ".join(small), size=10))
                y += LINE
        for n, note in enumerate(row.notes):
            body.append(_text(LABEL + WIDTH + 2 * PAD, top + 12 + LINE * n, note, size=11))
        y = max(y, top + LINE * len(row.notes) + 4) + 12
    axis = y
    for share, name in MARKS:
        x = LABEL + PAD + WIDTH * share
        body.append(
            f'<line x1="{x:.1f}" y1="{PAD + 30}" x2="{x:.1f}" y2="{axis:.1f}" '
            'stroke="#333" stroke-width="1" stroke-dasharray="4 3"/>'
        )
        body.append(_text(x, PAD + 28, name, "middle", 10))
    for tick in range(0, 101, 25):
        body.append(_text(LABEL + PAD + WIDTH * tick / 100, axis + 12, f"{tick}%", "middle", 10))
    y = axis + 30
    body.append(_text(LABEL + PAD, y, "families, in bar order:", size=11))
    for n, name in enumerate(legend):
        at = y + 8 + 18 * n
        fill = colour.get(name, OTHER)
        body.append(f'<rect x="{LABEL + PAD}" y="{at:.1f}" width="12" height="12" fill="{fill}"/>')
        body.append(_text(LABEL + PAD + 18, at + 10, name))
    y += 8 + 18 * len(legend) + 8
    for n, line in enumerate(footer):
        body.append(_text(PAD, y + 12 + LINE * n, line, size=11))
    height = int(y + LINE * len(footer) + 2 * PAD)
    width = LABEL + WIDTH + NOTES + 3 * PAD
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        _text(PAD, PAD + 14, title, size=15),
    ]
    return "\n".join([*head, *body, "</svg>"]) + "\n"
