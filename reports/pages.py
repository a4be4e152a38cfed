"""The reports in the admin: ``/admin/reports/`` and ``/admin/reports/<name>/``.

Custom admin pages as the SLA dashboard's (sla/dashboard.py): URLs wrapped in
``admin.site.admin_view`` (login, staff, no caching), agents and admins only (a
requester made staff by mistake gets 403), a ``TemplateResponse`` with the site's
context. The root URLconf includes ``report_urls()`` before ``admin.site.urls``.

Each table's CSV (``?format=csv&table=<key>``, or ``/admin/reports/<name>.csv``) is
written from the very cells the page shows (``cell_text``), so a spreadsheet holds
what the reader saw.
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


def cell_text(value: Any, unit: str, report: Report) -> str:
    """One figure as the page and its CSV write it."""
    if value is None or value == "":
        return NO_FIGURE if unit not in ("text",) else ""
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "seconds":
        return format_duration(value)
    if unit == "datetime" and isinstance(value, datetime.datetime):
        return value.astimezone(report.filters.zone).strftime("%Y-%m-%d %H:%M")
    if unit == "date" and isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def table_cells(table: Table, report: Report) -> list[list[str]]:
    units = [column.unit for column in table.columns]
    keys = [column.key for column in table.columns]
    return [
        [cell_text(row.get(key), unit, report) for key, unit in zip(keys, units, strict=True)]
        for row in table.rows
    ]


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
    writer.writerows(table_cells(table, report))
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
                "table": table,
                "cells": [
                    [
                        {"text": text, "numeric": column.unit in NUMERIC}
                        for text, column in zip(row, table.columns, strict=True)
                    ]
                    for row in table_cells(table, report)
                ],
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
