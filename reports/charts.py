"""The reports' charts as SVG drawn on the server: no script, no library, nothing from
a CDN (the admin's Content-Security-Policy allows neither inline script nor other
origins). The template (admin/reports/report.html) draws what ``chart_geometry``
computes: polylines for series over time, horizontal bars for categories.

The chart is a picture of the table under it; the SVG's title and description say
what it shows for screen readers, and the table holds every figure.

Figures the chart writes out (the bars' values, the scale, the description) are
grouped and punctuated in the agent's language, as the page's cards and tables
(``_number``); coordinates are plain numbers, which the template writes with
localization off.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext

from reports.figures import Chart

WIDTH = 720
PLOT_HEIGHT = 180
LEFT = 44  # room for the scale
RIGHT = 16
TOP = 10
BOTTOM = 22  # room for the dates
BAR_HEIGHT = 16
BAR_GAP = 6
BAR_LABEL = 120  # room for the names left of the bars
# Narrower than the line chart, so that names stay readable on a phone's width.
BAR_WIDTH = 480
MAX_DATE_LABELS = 8


def _nice_top(value: float) -> float:
    """The scale's top: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    """A figure in the agent's language, grouped by thousands: 282,417 / 282.417; a
    whole float without its ".0"."""
    if float(value).is_integer():
        value = int(value)
    return number_format(value, force_grouping=True)


def _scale_label(value: float, unit: str) -> str:
    text = _number(value) if value < 10_000 else f"{_number(value / 1000)}k"
    return f"{text}%" if unit == "percent" else text


def _lines(chart: Chart) -> dict[str, Any]:
    count = len(chart.labels)
    values = [v for s in chart.series for v in s.values if v is not None]
    top = 100.0 if chart.unit == "percent" else _nice_top(max(values, default=0))
    plot_width = WIDTH - LEFT - RIGHT
    step = plot_width / max(count - 1, 1)

    def x(index: int) -> float:
        return round(LEFT + (index * step if count > 1 else plot_width / 2), 1)

    def y(value: float) -> float:
        return round(TOP + PLOT_HEIGHT - value * PLOT_HEIGHT / top, 1)

    series = []
    for number, s in enumerate(chart.series):
        # A gap (no figure, e.g. no rating that day) breaks the line into segments.
        segments: list[list[tuple[float, float]]] = [[]]
        points = []
        for index, value in enumerate(s.values):
            if value is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append((x(index), y(value)))
            points.append({"x": x(index), "y": y(value)})
        series.append(
            {
                "key": s.key,
                "label": s.label,
                "number": number,
                "paths": [
                    " ".join(f"{px},{py}" for px, py in segment) for segment in segments if segment
                ],
                # Dots where a line alone would not show: few points, or lone ones.
                "points": points if count <= 31 else [],
            }
        )
    every = max(1, math.ceil(count / MAX_DATE_LABELS))
    ticks = [
        {
            "x": x(index),
            # The month's name in the reader's language ("03 Dez" on a German page).
            "text": date_format(label, "d M") if isinstance(label, datetime.date) else str(label),
        }
        for index, label in enumerate(chart.labels)
        if (count - 1 - index) % every == 0
    ]
    return {
        "kind": "lines",
        "width": WIDTH,
        "height": TOP + PLOT_HEIGHT + BOTTOM,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "baseline": TOP + PLOT_HEIGHT + 0.5,
        "top_y": TOP + 4,
        "top_label": _scale_label(top, chart.unit),
        "mid_y": y(top / 2) + 4,
        "mid_label": _scale_label(top / 2, chart.unit),
        "mid_line": y(top / 2),
        "label_y": TOP + PLOT_HEIGHT + BOTTOM - 6,
        "series": series,
        "ticks": ticks,
    }


def _bars(chart: Chart) -> dict[str, Any]:
    values = chart.series[0].values if chart.series else []
    top = _nice_top(max((v or 0 for v in values), default=0))
    plot_width = BAR_WIDTH - BAR_LABEL - RIGHT - 40  # room for the figure after the bar
    bars = []
    for index, (label, value) in enumerate(zip(chart.labels, values, strict=True)):
        length = round((value or 0) * plot_width / top, 1)
        y = TOP + index * (BAR_HEIGHT + BAR_GAP)
        bars.append(
            {
                "label": str(label)[:18],
                "value": _number(value or 0),
                "y": y,
                "text_y": y + BAR_HEIGHT - 4,
                "width": length,
                "value_x": BAR_LABEL + length + 4,
            }
        )
    return {
        "kind": "bars",
        "width": BAR_WIDTH,
        "height": TOP + max(len(bars), 1) * (BAR_HEIGHT + BAR_GAP) + 4,
        "label_x": BAR_LABEL - 6,
        "bar_x": BAR_LABEL,
        "bar_height": BAR_HEIGHT,
        "bars": bars,
        "series": [
            {"key": s.key, "label": s.label, "number": n} for n, s in enumerate(chart.series)
        ],
    }


def chart_geometry(chart: Chart) -> dict[str, Any]:
    geometry = _bars(chart) if chart.kind == "bars" else _lines(chart)
    totals = []
    for s in chart.series:
        known = [v for v in s.values if v is not None]
        if chart.unit == "percent":
            text = (
                gettext("%(label)s from %(low)s%% to %(high)s%%")
                % {
                    "label": s.label,
                    "low": _number(min(known)),
                    "high": _number(max(known)),
                }
                if known
                else gettext("%(label)s: no figure") % {"label": s.label}
            )
        else:
            text = gettext("%(label)s: %(total)s in all, at most %(high)s") % {
                "label": s.label,
                "total": _number(sum(known)),
                "high": _number(max(known, default=0)),
            }
        totals.append(text)
    geometry["title"] = chart.title
    geometry["description"] = (
        "; ".join(totals) + ". " + gettext("The table below holds every figure.")
    )
    geometry["empty"] = not chart.labels
    return geometry
