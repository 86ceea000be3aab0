"""Inline SVG charts (no JavaScript, no network): grouped bar charts and histograms.

Every bar carries a ``<title>`` so hovering shows its exact value; all text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from dataqual.report.markup import esc, fmt_count

__all__ = ["PALETTE", "bar_chart", "histogram", "line_chart", "nice_ticks"]

PALETTE = ("#3867d6", "#f7a325", "#20a39e", "#d1495b", "#7d5ba6", "#6b7280")

#: Canvas size and plot margins (SVG user units; the CSS scales the chart to its column).
W, H = 560, 250
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 34, 40
PW, PH = W - LEFT - RIGHT, H - TOP - BOTTOM
BASE = TOP + PH  # y of the x axis


def nice_ticks(vmax: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``vmax`` (steps of 1, 2, 2.5 or 5 times 10^k)."""
    if not vmax > 0 or not math.isfinite(vmax):
        return [0.0, 1.0]
    raw = vmax / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(vmax / step - 1e-9) + 1)]


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _bar(x: float, width: float, height: float, color: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{BASE - height:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'fill="{color}"><title>{esc(tip)}</title></rect>'
    )


def _frame(
    title: str,
    y_ticks: list[float],
    y_fmt: Callable[[float], str],
    legend: Sequence[str],
    x_label: str,
    body: list[str],
) -> str:
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>',
        f'<text class="ct" x="{LEFT}" y="14">{esc(title)}</text>',
    ]
    for t in y_ticks:
        y = BASE - (t / y_ticks[-1]) * PH
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="yt" x="{LEFT - 6}" y="{y + 3.5:.1f}">{esc(y_fmt(t))}</text>'
        )
    parts.extend(body)
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{W - RIGHT}" y1="{BASE}" y2="{BASE}"/>')
    if x_label:
        parts.append(f'<text class="xl" x="{LEFT + PW / 2:.0f}" y="{H - 4}">{esc(x_label)}</text>')
    x = W - RIGHT
    for i, name in reversed(list(enumerate(legend))):
        x -= 22 + 7 * len(name)
        parts.append(
            f'<rect x="{x}" y="6" width="10" height="10" rx="2" fill="{_color(i)}"/>'
            f'<text class="lg" x="{x + 14}" y="15">{esc(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    x_label: str = "",
    unit: str = "rows",
) -> str:
    """Grouped bars: one group per category, one bar per series; non-zero bars stay visible."""
    names = list(series)
    values = np.array([list(series[s]) for s in names], dtype=float)
    values = values.reshape(len(names), len(categories))
    ticks = nice_ticks(float(values.max()) if values.size else 0.0)
    group = PW / max(len(categories), 1)
    bar = group * 0.8 / max(len(names), 1)
    body = []
    for c, cat in enumerate(categories):
        x0 = LEFT + c * group + group * 0.1
        for s, name in enumerate(names):
            v = values[s, c]
            height = max((v / ticks[-1]) * PH, 1.5) if v > 0 else 0.0
            tip = f"{name}, {cat}: {fmt_count(v)} {unit}"
            body.append(_bar(x0 + s * bar, max(bar - 1, 1), height, _color(s), tip))
        x = LEFT + (c + 0.5) * group
        body.append(f'<text class="xt" x="{x:.1f}" y="{BASE + 14}">{esc(cat)}</text>')
    return _frame(
        title, ticks, lambda t: fmt_count(t) if t >= 1 or t == 0 else f"{t:g}", names, x_label, body
    )


def histogram(
    series: Mapping[str, np.ndarray],
    *,
    lo: float,
    hi: float,
    title: str,
    x_label: str,
    bins: int = 32,
    x_fmt: Callable[[float], str] = lambda v: f"{v:g}",
    x_ticks: Sequence[float] | None = None,
) -> str:
    """Share of rows per bin for each series, side by side; non-empty bins stay visible.

    Values outside ``lo..hi`` count in the first or last bin.
    """
    names = list(series)
    edges = np.linspace(lo, hi, bins + 1)
    counts, shares = [], []
    for name in names:
        values = np.asarray(series[name], dtype=float)
        values = values[np.isfinite(values)]
        c, _ = np.histogram(np.clip(values, lo, hi), bins=edges)
        counts.append(c)
        shares.append(c / max(len(values), 1))
    ticks = nice_ticks(max((float(s.max()) for s in shares if s.size), default=0.0))
    width = PW / bins
    bar = width * 0.9 / max(len(names), 1)
    body = []
    for b in range(bins):
        span = f"{x_fmt(edges[b])} to {x_fmt(edges[b + 1])}"
        for s, name in enumerate(names):
            n = int(counts[s][b])
            if n:
                tip = f"{name}, {span}: {n:,} rows ({shares[s][b]:.2%})"
                height = max((shares[s][b] / ticks[-1]) * PH, 2.0)
                body.append(
                    _bar(LEFT + (b + 0.05) * width + s * bar, max(bar, 0.8), height, _color(s), tip)
                )
    for v in np.linspace(lo, hi, 5) if x_ticks is None else x_ticks:
        x = LEFT + (v - lo) / (hi - lo) * PW
        body.append(
            f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{BASE}" y2="{BASE + 4}"/>'
            f'<text class="xt" x="{x:.1f}" y="{BASE + 16}">{esc(x_fmt(v))}</text>'
        )
    pct = "{:.0%}" if ticks[-1] >= 0.05 else "{:.1%}"
    return _frame(title, ticks, pct.format, names, x_label, body)


def line_chart(
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    x_label: str = "epoch",
    y_fmt: Callable[[float], str] = lambda t: f"{t:g}",
) -> str:
    """One line per series over positions 1..n (epochs), with a marker and value at each point."""
    names = list(series)
    longest = max((len(series[s]) for s in names), default=0)
    finite = [float(v) for s in names for v in series[s] if math.isfinite(float(v))]
    ticks = nice_ticks(max(finite, default=0.0))
    step = PW / max(longest, 1)
    body = []
    for s, name in enumerate(names):
        values = np.asarray(series[name], dtype=float)
        xs = LEFT + (np.arange(len(values)) + 0.5) * step
        ys = BASE - np.clip(np.nan_to_num(values) / ticks[-1], 0, 1) * PH
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        body.append(
            f'<polyline fill="none" stroke="{_color(s)}" stroke-width="2" points="{points}"/>'
        )
        body.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{_color(s)}">'
            f"<title>{esc(name)}, {esc(x_label)} {i + 1}: {v:.4g}</title></circle>"
            for i, (x, y, v) in enumerate(zip(xs, ys, values, strict=True))
        )
    for i in range(0, longest, max(1, -(-longest // 12))):  # at most 12 labels
        x = LEFT + (i + 0.5) * step
        body.append(f'<text class="xt" x="{x:.1f}" y="{BASE + 14}">{i + 1}</text>')
    return _frame(title, ticks, y_fmt, names, x_label, body)
