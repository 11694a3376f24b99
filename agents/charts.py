"""Charts drawn on the server as SVG markup: no JavaScript, no library from a CDN.

Every piece of text goes through Django's escaping, and colours come from CSS classes
(`chart-series--0` … `chart-series--7` in app.css), never from style attributes, so the
markup passes the strict CSP and parses as XML.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

PALETTE_SIZE = 8  # colours defined in app.css; more series than this reuse them in order

WIDTH = 760
PLOT_HEIGHT = 220
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 16
AXIS_BAND = 44  # day labels and the axis title under the plot
LEGEND_ROW = 20
LEGEND_CHAR_WIDTH = 7  # rough width of a legend character at the chart's font size
LEGEND_SWATCH = 12
LEGEND_GAP = 22
MAX_DAY_LABELS = 15
MAX_BAR_WIDTH = 48


@dataclass(frozen=True)
class Series:
    """One stacked segment per category: `values[i]` belongs to `categories[i]`."""

    label: str
    values: Sequence[float]


def _plain(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:,.2f}".rstrip("0").rstrip(".")


def nice_step(span: float, ticks: int = 4) -> float:
    """A round gridline step (1, 2, 2.5 or 5 times a power of ten): about `ticks` over `span`."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    magnitude: float = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * magnitude:
            return multiple * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _coord(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def stacked_bar_chart(
    *,
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    category_labels: Sequence[str] | None = None,
    x_title: str = "",
    y_title: str = "",
    format_value: Callable[[float], str] = _plain,
    format_tick: Callable[[float], str] | None = None,
) -> SafeString:
    """An SVG stacked bar chart: one bar per category, one coloured segment per series.

    Each segment carries a <title> tooltip naming its category, series and value; the axes
    are labelled and a legend names the series. `categories` name the bars in tooltips and
    `category_labels` (shorter) under them; every label is escaped.
    """
    labels = list(category_labels or categories)
    count = len(categories)
    format_tick = format_tick or format_value
    totals = [sum(s.values[i] for s in series) for i in range(count)]
    step = nice_step(max(totals, default=0))
    top = step * max(1, math.ceil(max(totals, default=0) / step))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_bottom = MARGIN_TOP + PLOT_HEIGHT
    slot = plot_width / max(count, 1)
    bar_width = min(max(slot * 0.7, 1.0), MAX_BAR_WIDTH)

    def y(value: float) -> float:
        return plot_bottom - value / top * PLOT_HEIGHT

    # Gridlines and y-axis ticks.
    ticks = []
    for n in range(round(top / step) + 1):
        value = n * step
        ticks.append(
            format_html(
                '<line class="chart-gridline" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="chart-tick" x="{}" y="{}" text-anchor="end">{}</text>',
                MARGIN_LEFT,
                WIDTH - MARGIN_RIGHT,
                _coord(y(value)),
                _coord(y(value)),
                MARGIN_LEFT - 6,
                _coord(y(value) + 4),
                format_tick(value),
            )
        )

    # Bars: one group per series so a series shares its colour class.
    groups = []
    for index, one in enumerate(series):
        rects = []
        for i in range(count):
            value = one.values[i]
            if value <= 0:
                continue
            below = sum(s.values[i] for s in series[:index])
            rects.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}"><title>{} · {}: {}</title></rect>',
                    _coord(MARGIN_LEFT + i * slot + (slot - bar_width) / 2),
                    _coord(y(below + value)),
                    _coord(bar_width),
                    _coord(max(value / top * PLOT_HEIGHT, 0.5)),
                    categories[i],
                    one.label,
                    format_value(value),
                )
            )
        groups.append(
            format_html(
                '<g class="chart-series chart-series--{}" data-series="{}">{}</g>',
                index % PALETTE_SIZE,
                one.label,
                mark_safe("".join(rects)),
            )
        )

    # Category labels under the bars, thinned out when there are many.
    every = max(1, math.ceil(count / MAX_DAY_LABELS))
    x_labels = format_html_join(
        "",
        '<text class="chart-label" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (_coord(MARGIN_LEFT + i * slot + slot / 2), plot_bottom + 16, labels[i])
            for i in range(0, count, every)
        ),
    )

    # The legend wraps onto as many rows as it needs.
    legend_items = []
    x, row = MARGIN_LEFT, 0
    legend_top = plot_bottom + AXIS_BAND
    for index, one in enumerate(series):
        item_width = LEGEND_SWATCH + 6 + len(one.label) * LEGEND_CHAR_WIDTH + LEGEND_GAP
        if x + item_width > WIDTH and x > MARGIN_LEFT:
            x, row = MARGIN_LEFT, row + 1
        top_y = legend_top + row * LEGEND_ROW
        legend_items.append(
            format_html(
                '<g class="chart-legend-item">'
                '<rect class="chart-series--{}" x="{}" y="{}" width="{}" height="{}"/>'
                '<text x="{}" y="{}">{}</text></g>',
                index % PALETTE_SIZE,
                x,
                top_y,
                LEGEND_SWATCH,
                LEGEND_SWATCH,
                x + LEGEND_SWATCH + 6,
                top_y + LEGEND_SWATCH - 2,
                one.label,
            )
        )
        x += item_width
    height = legend_top + (row + 1) * LEGEND_ROW + 4 if series else legend_top

    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{id}" '
        'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{id}-title {id}-desc">'
        '<title id="{id}-title">{title}</title>'
        '<desc id="{id}-desc">{desc}</desc>'
        '<g class="chart-grid">{ticks}</g>'
        '<g class="chart-bars">{groups}</g>'
        '<g class="chart-axis">'
        '<line class="chart-axis-line" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
        "{x_labels}"
        '<text class="chart-axis-title" x="{x_title_x}" y="{x_title_y}" '
        'text-anchor="middle">{x_title}</text>'
        '<text class="chart-axis-title" x="14" y="{y_title_y}" text-anchor="middle" '
        'transform="rotate(-90 14 {y_title_y})">{y_title}</text>'
        "</g>"
        '<g class="chart-legend">{legend}</g>'
        "</svg>",
        id=chart_id,
        width=WIDTH,
        height=height,
        title=title,
        desc=f"Stacked bars with one segment per series: "
        f"{', '.join(s.label for s in series) or 'none'}.",
        ticks=mark_safe("".join(ticks)),
        groups=mark_safe("".join(groups)),
        left=MARGIN_LEFT,
        right=WIDTH - MARGIN_RIGHT,
        bottom=plot_bottom,
        x_labels=x_labels,
        x_title_x=_coord(MARGIN_LEFT + plot_width / 2),
        x_title_y=plot_bottom + 36,
        x_title=x_title,
        y_title_y=_coord(MARGIN_TOP + PLOT_HEIGHT / 2),
        y_title=y_title,
        legend=mark_safe("".join(legend_items)),
    )


def compact_number(value: float) -> str:
    """12345 → "12.3k", 2500000 → "2.5M": short enough for an axis tick."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return _plain(value)


def dollars(value: float) -> str:
    """Cost with as many decimals as small amounts need: $12.34, $0.0042."""
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}".rstrip("0").rstrip(".")
