"""Inline SVG charts (no JavaScript, no network): grouped bar charts and histograms.

Every bar carries a ``<title>`` so hovering shows its exact value; all text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from dataqual.report.markup import esc, fmt_count

__all__ = ["PALETTE", "bar_chart", "histogram", "nice_ticks"]

PALETTE = ("#3867d6", "#f7a325", "#20a39e", "#d1495b", "#7d5ba6", "#6b7280")

_W, _H = 560, 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 12, 34, 40


def nice_ticks(vmax: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``vmax`` (steps of 1, 2, 2.5 or 5 times 10^k)."""
    if not vmax > 0 or not math.isfinite(vmax):
        return [0.0, 1.0]
    raw = vmax / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    n = math.ceil(vmax / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _frame(title: str, y_ticks: list[float], y_fmt: Callable[[float], str], legend: Sequence[str],
           x_label: str, body: list[str]) -> str:
    ph = _H - _TOP - _BOTTOM
    ymax = y_ticks[-1]
    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>',
        f'<text class="ct" x="{_LEFT}" y="14">{esc(title)}</text>',
    ]
    for t in y_ticks:
        y = _TOP + ph - (t / ymax) * ph
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="yt" x="{_LEFT - 6}" y="{y + 3.5:.1f}">{esc(y_fmt(t))}</text>')
    parts.extend(body)
    parts.append(f'<line class="axis" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_TOP + ph}" y2="{_TOP + ph}"/>')
    if x_label:
        parts.append(f'<text class="xl" x="{(_LEFT + _W - _RIGHT) / 2:.0f}" y="{_H - 4}">{esc(x_label)}</text>')
    x = _W - _RIGHT
    for i, name in reversed(list(enumerate(legend))):
        x -= 8 + 7 * len(name) + 14
        parts.append(f'<rect x="{x}" y="6" width="10" height="10" rx="2" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text class="lg" x="{x + 14}" y="15">{esc(name)}</text>')
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
    """Grouped bars: one group per category, one bar per series."""
    names = list(series)
    values = np.array([list(series[s]) for s in names], dtype=float).reshape(len(names), len(categories))
    ticks = nice_ticks(float(values.max()) if values.size else 0.0)
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    group = pw / max(len(categories), 1)
    bar = group * 0.8 / max(len(names), 1)
    body = []
    for c, cat in enumerate(categories):
        gx = _LEFT + c * group + group * 0.1
        for s, name in enumerate(names):
            v = values[s, c]
            h = (v / ticks[-1]) * ph
            if v > 0:
                h = max(h, 1.5)
            body.append(
                f'<rect x="{gx + s * bar:.1f}" y="{_TOP + ph - h:.1f}" width="{max(bar - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}"><title>{esc(name)}, {esc(cat)}: '
                f"{esc(fmt_count(v))} {esc(unit)}</title></rect>"
            )
        body.append(f'<text class="xt" x="{_LEFT + (c + 0.5) * group:.1f}" y="{_TOP + ph + 14}">{esc(cat)}</text>')
    return _frame(title, ticks, lambda t: fmt_count(t) if t >= 1 or t == 0 else f"{t:g}", names, x_label, body)


def histogram(
    series: Mapping[str, np.ndarray],
    *,
    lo: float,
    hi: float,
    title: str,
    x_label: str,
    bins: int = 32,
    x_fmt: Callable[[float], str] = lambda v: f"{v:g}",
) -> str:
    """Share of rows per bin for each series, side by side; non-empty bins stay visible."""
    names = list(series)
    edges = np.linspace(lo, hi, bins + 1)
    counts, shares = [], []
    for name in names:
        values = np.asarray(series[name], dtype=float)
        values = values[np.isfinite(values)]
        c, _ = np.histogram(np.clip(values, lo, hi), bins=edges)
        counts.append(c)
        shares.append(c / max(len(values), 1))
    top = max((float(s.max()) for s in shares if s.size), default=0.0)
    ticks = nice_ticks(top)
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    width = pw / bins
    bar = width * 0.9 / max(len(names), 1)
    body = []
    for b in range(bins):
        for s, name in enumerate(names):
            n = int(counts[s][b])
            if not n:
                continue
            h = max((shares[s][b] / ticks[-1]) * ph, 2.0)
            body.append(
                f'<rect x="{_LEFT + b * width + width * 0.05 + s * bar:.1f}" y="{_TOP + ph - h:.1f}" '
                f'width="{max(bar, 0.8):.1f}" height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{esc(name)}, {esc(x_fmt(edges[b]))} to {esc(x_fmt(edges[b + 1]))}: "
                f"{n:,} rows ({shares[s][b]:.2%})</title></rect>"
            )
    for v in np.linspace(lo, hi, 5):
        x = _LEFT + (v - lo) / (hi - lo) * pw
        body.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP + ph}" y2="{_TOP + ph + 4}"/>'
                    f'<text class="xt" x="{x:.1f}" y="{_TOP + ph + 16}">{esc(x_fmt(v))}</text>')
    return _frame(title, ticks, lambda t: f"{t:.0%}" if ticks[-1] >= 0.05 else f"{t:.1%}", names,
                  x_label, body)
