"""Metric history charts as inline SVG, drawn on the server: no script, no CDN, nothing the page's
Content-Security-Policy has to allow.

A chart holds one or more series (the metrics of a run, or one metric of several runs), each a line
in a colour of its own, named in a legend under the plot when there are several. The x axis is the
step or the time (seconds since the run started). However long a history, a series is drawn with at
most ``MAX_POINTS`` points: beyond that, each bucket of consecutive points is drawn by its lowest
and highest value (``downsample``), so spikes stay visible and a 100,000-point history draws fast.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 480, 160
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28  # room for the axis labels
LEGEND_ROW = 16
#: At most this many points of a series are drawn.
MAX_POINTS = 600
#: What the x axis may show: the step, or the time since the run started.
X_AXES = ("step", "time")
#: Colours of the series, in order (readable on white, told apart by most eyes).
PALETTE = (
    "#6d28d9", "#0e7490", "#c2410c", "#15803d", "#be185d",
    "#1d4ed8", "#a16207", "#4b5563", "#b91c1c", "#0f766e",
)  # fmt: skip


@dataclass(frozen=True)
class Series:
    """One line of a chart: its name in the legend, and its ``(x, y)`` points."""

    name: str
    points: Sequence[tuple[float, float]]


def _label(value: float) -> str:
    return f"{value:.4g}"


def _duration(seconds: float) -> str:
    """A time axis label: ``12 s``, ``2.5 min``, ``1.2 h``."""
    if abs(seconds) < 120:
        return f"{seconds:.3g} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def finite(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points whose x and y are finite numbers, by x (stable: equal x keep their order)."""
    return sorted(((x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)), key=lambda p: p[0])


def downsample(points: Sequence[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """``points`` (in x order) as at most ``limit`` points: all of them when there are few, else the
    lowest and the highest point of each of ``limit // 2`` buckets of consecutive points, in x order."""
    if len(points) <= limit:
        return list(points)
    buckets = max(1, limit // 2)
    size = math.ceil(len(points) / buckets)
    kept: list[tuple[float, float]] = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        low = min(bucket, key=lambda p: p[1])
        high = max(bucket, key=lambda p: p[1])
        kept.extend(sorted({low, high}, key=lambda p: p[0]) if low != high else [low])
    return kept


def chart(title: str, series: Sequence[Series], *, x_axis: str = "step") -> Markup:
    """An SVG chart of ``series`` (non-finite points left out, each series downsampled), with a
    legend when there are several. Returns an empty string when no series has two finite points:
    a single value needs no chart (the page's table shows it)."""
    lines = [(s.name, downsample(finite(s.points))) for s in series]
    lines = [(name, points) for name, points in lines if points]
    if not any(len(points) >= 2 for _, points in lines):
        return Markup("")
    every = [p for _, points in lines for p in points]
    x0, x1 = min(x for x, _ in every), max(x for x, _ in every)
    y0, y1 = min(y for _, y in every), max(y for _, y in every)
    span_x, span_y = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    legend = len(lines) > 1
    height = HEIGHT + (LEGEND_ROW * len(lines) + 4 if legend else 0)

    def at(x: float, y: float) -> str:
        return f"{LEFT + (x - x0) / span_x * plot_w:.1f},{TOP + (1 - (y - y0) / span_y) * plot_h:.1f}"

    x_text = (lambda v: f"step {_label(v)}") if x_axis == "step" else _duration
    name = escape(title)
    bottom, right = TOP + plot_h, LEFT + plot_w
    parts = [
        f'<svg class="metric-chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="History of {name}" data-testid="metric-chart" data-x-axis="{escape(x_axis)}">',
        f"<title>{name}: {sum(len(p) for _, p in lines)} points</title>",
        f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#9ca3af"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#9ca3af"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11" fill="#4b5563">{_label(y1)}</text>',
        f'<text x="{LEFT - 6}" y="{bottom}" text-anchor="end" font-size="11" fill="#4b5563">{_label(y0)}</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11" fill="#4b5563">{escape(x_text(x0))}</text>',
        f'<text x="{right}" y="{HEIGHT - 8}" text-anchor="end" font-size="11" fill="#4b5563">{escape(x_text(x1))}</text>',
    ]
    for index, (label, points) in enumerate(lines):
        colour = PALETTE[index % len(PALETTE)]
        if len(points) == 1:
            cx, cy = at(*points[0]).split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}" data-series="{escape(label)}"/>')
        else:
            path = " ".join(at(x, y) for x, y in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" data-series="{escape(label)}"/>'
            )
    if legend:
        parts.append('<g class="chart-legend" data-testid="chart-legend">')
        for index, (label, _) in enumerate(lines):
            row = HEIGHT + LEGEND_ROW * index
            colour = PALETTE[index % len(PALETTE)]
            parts.append(f'<rect x="{LEFT}" y="{row}" width="10" height="10" fill="{colour}"/>')
            parts.append(f'<text x="{LEFT + 16}" y="{row + 9}" font-size="11" fill="#1f2937">{escape(label)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(title: str, points: Sequence[tuple[float, float]]) -> Markup:
    """An SVG line chart of one series of ``(step, value)`` points (``chart``)."""
    return chart(title, [Series(title, points)])
