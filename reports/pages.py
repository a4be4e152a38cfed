"""The reports in the admin: ``/admin/reports/`` and ``/admin/reports/<name>/``.

Custom admin pages as the SLA dashboard's (sla/dashboard.py): URLs wrapped in
``admin.site.admin_view`` (login, staff, no caching), agents and admins only (a
requester made staff by mistake gets 403), a ``TemplateResponse`` with the site's
context. The root URLconf includes ``report_urls()`` before ``admin.site.urls``.

Each table's CSV (``?format=csv&table=<key>``, or ``/admin/reports/<name>.csv``) is
written by the same ``cell_text`` as the page's cells, so a spreadsheet holds what the
reader saw, with one difference: the page writes numbers in the agent's language,
grouped by thousands as Django's localization does ("282,417" in English, "282.417" in
German), while the CSV writes them plain ("282417", "80.6%") so that a spreadsheet in
any language reads them as numbers.

On a phone, a table of more than two columns shows each row as a block of its cells,
each with its column's label (``data-label``, reports/static/reports/reports.css), so
that the page never scrolls sideways.
"""

from __future__ import annotations

import csv
import datetime
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_lazy

from nixflow.toolkit.formats import format_duration
from reports.charts import chart_geometry
from reports.figures import Report, Table
from reports.filters import ReportFilterForm, filters_default
from reports.selectors import REPORTS, report_build

NO_FIGURE = "—"
PRESET_LABELS = [
    ("7", gettext_lazy("Last 7 days")),
    ("30", gettext_lazy("Last 30 days")),
    ("90", gettext_lazy("Last 90 days")),
]
NUMERIC = frozenset({"count", "percent", "seconds"})
# Tables wider than this many columns become stacked blocks on a phone (reports.css).
STACK_OVER_COLUMNS = 2
WIDE_TEXT = 20


def number_text(value: float, unit: str, *, localized: bool = True) -> str:
    """A count, or a percentage with one decimal, as Django's localization writes it in
    the active language and grouped by thousands; plain with ``localized=False``."""
    if unit == "percent":
        # number_format cuts to decimal_pos rather than rounding: round first.
        text = (
            number_format(round(value, 1), decimal_pos=1, force_grouping=True)
            if localized
            else f"{value:.1f}"
        )
        return f"{text}%"
    # Grouped as with USE_THOUSAND_SEPARATOR, which is off: on, it would group every
    # number any template prints, ids and years included.
    return number_format(value, force_grouping=True) if localized else str(value)


def cell_text(value: Any, unit: str, report: Report, *, localized: bool = True) -> str:
    """One figure as the page writes it, or with ``localized=False`` as its CSV does:
    counts and percentages without the language's grouping and decimal separator."""
    if value is None or value == "":
        return NO_FIGURE if unit not in ("text",) else ""
    if unit in ("count", "percent"):
        return number_text(value, unit, localized=localized)
    if unit == "seconds":
        return format_duration(value)
    if unit == "datetime" and isinstance(value, datetime.datetime):
        return value.astimezone(report.filters.zone).strftime("%Y-%m-%d %H:%M")
    if unit == "date" and isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def table_cells(table: Table, report: Report, *, localized: bool = True) -> list[list[str]]:
    units = [column.unit for column in table.columns]
    keys = [column.key for column in table.columns]
    return [
        [
            cell_text(row.get(key), unit, report, localized=localized)
            for key, unit in zip(keys, units, strict=True)
        ]
        for row in table.rows
    ]


def _table_context(table: Table, report: Report) -> dict[str, Any]:
    """A table as the template draws it: each cell's text, whether it is a figure
    (right-aligned), and its column's label (each cell's own label on a phone, where the
    table is ``stacked``). A column of words longer than ``WIDE_TEXT`` (a rating's
    comment) is ``wide``: on a phone its cells take a line of their own."""
    rows = table_cells(table, report)
    wide = [
        column.unit not in NUMERIC and any(len(row[index]) > WIDE_TEXT for row in rows)
        for index, column in enumerate(table.columns)
    ]
    return {
        "table": table,
        "stacked": len(table.columns) > STACK_OVER_COLUMNS,
        "cells": [
            [
                {
                    "text": text,
                    "numeric": column.unit in NUMERIC,
                    "wide": is_wide,
                    "label": column.label,
                }
                for text, column, is_wide in zip(row, table.columns, wide, strict=True)
            ]
            for row in rows
        ],
    }


def _require_agent(request: HttpRequest) -> None:
    # admin_view has let in only active staff; of those, agents and admins read reports.
    if not getattr(request.user, "is_agent", False):
        raise PermissionDenied


def index_view(request: HttpRequest) -> HttpResponse:
    _require_agent(request)
    request.current_app = admin.site.name
    context = {
        **admin.site.each_context(request),
        "title": gettext("Reports"),
        "reports": [
            {"url": reverse("reports_report", args=[kind.name]), **vars(kind)}
            for kind in REPORTS.values()
        ],
    }
    return TemplateResponse(request, "admin/reports/index.html", context)


def _csv(report: Report, table_key: str | None) -> HttpResponse:
    try:
        table = report.table(table_key) if table_key else report.tables[0]
    except KeyError:
        raise Http404(gettext("This report has no table %(key)r.") % {"key": table_key}) from None
    filters = report.filters
    filename = f"{report.name}-{table.key}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([str(column.label) for column in table.columns])
    writer.writerows(table_cells(table, report, localized=False))
    return response


def report_view(request: HttpRequest, name: str, csv_file: bool = False) -> HttpResponse:
    _require_agent(request)
    if name not in REPORTS:
        raise Http404(gettext("There is no report %(name)r.") % {"name": name})
    form = ReportFilterForm(data=request.GET)
    filters = form.filters() if form.is_valid() else filters_default()
    report = report_build(name=name, filters=filters)
    if csv_file or request.GET.get("format") == "csv":
        return _csv(report, request.GET.get("table"))
    request.current_app = admin.site.name
    page = reverse("reports_report", args=[name])
    context = {
        **admin.site.each_context(request),
        "title": gettext("Report: %(title)s") % {"title": report.title},
        "report": report,
        "form": form,
        # The form as the reader sees it: the range and filters in effect, even when
        # they came from a preset or replaced a bad value.
        "shown_form": ReportFilterForm(
            initial={
                "from": filters.start.isoformat(),
                "to": filters.end.isoformat(),
                "interval": filters.interval,
                "workflow": filters.workflow,
                "team": filters.team,
                "channel": filters.channel,
                "priority": filters.priority,
                "tag": filters.tag,
            }
        ),
        "filters": filters,
        "reports": REPORTS.values(),
        "figures": [
            {"figure": figure, "text": cell_text(figure.value, figure.unit, report)}
            for figure in report.figures
        ],
        "chart": chart_geometry(report.chart),
        "tables": [
            {
                **_table_context(table, report),
                "csv_url": f"{page}?{filters.query(format='csv', table=table.key)}",
            }
            for table in report.tables
        ],
        "presets": [
            {
                "value": value,
                "label": label,
                "url": f"{page}?{filters.query(range=value, **{'from': '', 'to': ''})}",
            }
            for value, label in PRESET_LABELS
        ],
    }
    return TemplateResponse(request, "admin/reports/report.html", context)


def report_csv_view(request: HttpRequest, name: str) -> HttpResponse:
    return report_view(request, name, csv_file=True)


def report_urls() -> list[URLPattern]:
    """Included by the root URLconf under ``admin/``, before ``admin.site.urls``."""
    return [
        path("reports/", admin.site.admin_view(index_view), name="reports_index"),
        path(
            "reports/<slug:name>.csv",
            admin.site.admin_view(report_csv_view),
            name="reports_report_csv",
        ),
        path("reports/<slug:name>/", admin.site.admin_view(report_view), name="reports_report"),
    ]
