"""Metric history charts as inline SVG, drawn on the server: no script, no CDN, nothing the page's
Content-Security-Policy has to allow."""
from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 480, 160
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28  # room for the axis labels


def _label(value: float) -> str:
    return f"{value:.4g}"


def line_chart(title: str, points: Sequence[tuple[float, float]]) -> Markup:
    """An SVG line chart of ``(step, value)`` points; non-finite values are left out.

    Returns an empty string when fewer than two finite points remain (a single value needs no chart).
    """
    finite = sorted((x, y) for x, y in points if math.isfinite(y) and math.isfinite(x))
    if len(finite) < 2:
        return Markup("")
    xs, ys = [x for x, _ in finite], [y for _, y in finite]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    span_x, span_y = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def at(x: float, y: float) -> str:
        return f"{LEFT + (x - x0) / span_x * plot_w:.1f},{TOP + (1 - (y - y0) / span_y) * plot_h:.1f}"

    path = " ".join(at(x, y) for x, y in finite)
    name = escape(title)
    bottom, right = TOP + plot_h, LEFT + plot_w
    return Markup(
        f'<svg class="metric-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="History of {name}" data-testid="metric-chart">'
        f"<title>{name}: {len(finite)} points</title>"
        f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#9ca3af"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#9ca3af"/>'
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11" fill="#4b5563">{_label(y1)}</text>'
        f'<text x="{LEFT - 6}" y="{bottom}" text-anchor="end" font-size="11" fill="#4b5563">{_label(y0)}</text>'
        f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11" fill="#4b5563">step {_label(x0)}</text>'
        f'<text x="{right}" y="{HEIGHT - 8}" text-anchor="end" font-size="11" fill="#4b5563">step {_label(x1)}</text>'
        f'<polyline points="{path}" fill="none" stroke="#6d28d9" stroke-width="2"/>'
        "</svg>"
    )
