"""A small dependency-free SVG writer: stacked bars of shares, one bar per row.

Spec: docs/SPEC.md §12 (Diversity), the picture. Tooling: floats for layout.

Rules:
1. Each row is a label and its segments `(series, share)`, shares in 0 … 1;
   a bar is drawn left to right in the order of `series`, one colour each.
2. `series` beyond the palette are drawn in one grey as `other`.
3. Every text is XML-escaped, so any family name gives well-formed XML; the
   same input gives the same bytes (no clock, no random ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["PALETTE", "stacked_bars"]

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
)  # fmt: skip
OTHER = "#bab0ac"
ROW, BAR, LABEL, WIDTH, PAD = 26, 18, 220, 520, 12


def _esc(body: str) -> str:
    # XML 1.0 forbids most control characters even when escaped: show them as `?`.
    return escape("".join(c if c.isprintable() else "?" for c in body))


def _text(x: float, y: float, body: str, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
        f"{_esc(body)}</text>"
    )


def stacked_bars(
    title: str, series: Sequence[str], rows: Sequence[tuple[str, Sequence[tuple[str, float]]]]
) -> str:
    """An SVG document: one stacked bar of shares per row, a legend below (rules 1–3)."""
    named = list(series[: len(PALETTE)])
    colour = {name: PALETTE[i] for i, name in enumerate(named)}
    legend = [*named, "other"] if len(series) > len(PALETTE) else named
    top = PAD + 28
    height = top + ROW * len(rows) + 24 + 18 * len(legend) + PAD
    width = LABEL + WIDTH + 2 * PAD + 60
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        _text(PAD, PAD + 14, title, size=15),
    ]
    for n, (label, segments) in enumerate(rows):
        y = top + n * ROW
        out.append(_text(LABEL + PAD - 6, y + BAR - 4, label, anchor="end"))
        x = float(LABEL + PAD)
        for name, share in segments:
            w = WIDTH * max(0.0, min(1.0, share))
            fill = colour.get(name, OTHER)
            out.append(
                f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{BAR}" fill="{fill}">'
                f"<title>{_esc(name)}: {share * 100:.1f}%</title></rect>"
            )
            x += w
    axis = top + ROW * len(rows)
    for tick in range(0, 101, 25):
        out.append(_text(LABEL + PAD + WIDTH * tick / 100, axis + 12, f"{tick}%", "middle", 10))
    for n, name in enumerate(legend):
        y = axis + 24 + 18 * n
        fill = colour.get(name, OTHER)
        out.append(f'<rect x="{LABEL + PAD}" y="{y}" width="12" height="12" fill="{fill}"/>')
        out.append(_text(LABEL + PAD + 18, y + 10, name))
    out.append("</svg>")
    return "\n".join(out) + "\n"
