"""The SLA dashboard in the admin: ``/admin/sla/dashboard/``.

A custom admin page in the way ``django.contrib.auth.admin.UserAdmin.get_urls`` adds
one: a URL wrapped in ``admin.site.admin_view`` (login, staff, CSRF, no caching), a
permission check, then a ``TemplateResponse`` with the site's own context. The root
URLconf includes ``dashboard_urls()`` before ``admin.site.urls``, whose catch-all would
otherwise answer first. The admin index links here (``sla/templates/admin/index.html``).

The figures come from ``sla.selectors.sla_summary``, as the API's do; this module only
formats them (percentages with one decimal, durations as the whole admin writes them,
"2 h 15 min": nixflow.toolkit.formats) and draws the breach trend
as inline SVG, so the page needs no JavaScript.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy, ngettext

from nixflow.models import Priority, Ticket
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.errors import error_text
from nixflow.toolkit.formats import format_duration
from sla.models import MetricType, SLABreach, SLAStatus
from sla.selectors import WINDOWS, sla_summary
from sla.services import breach_acknowledge

NO_FIGURE = "—"

# The trend chart's geometry, in SVG user units.
BAR_WIDTH = 18
BAR_GAP = 4
CHART_HEIGHT = 120
CHART_LEFT = 28  # room for the scale
CHART_BOTTOM = 18  # room for the dates
CHART_RIGHT = 12


def format_percent(value: float | None) -> str:
    """``42.857…`` → ``"42.9%"``; no figure → ``"—"``."""
    return NO_FIGURE if value is None else f"{value:.1f}%"


class AcknowledgeForm(forms.Form):
    breach = forms.ModelChoiceField(
        queryset=SLABreach.objects.all(),
        error_messages={"invalid_choice": gettext_lazy("That breach does not exist (any more).")},
    )
    note = forms.CharField(required=False, max_length=2000, strip=True)


def last_days(days: int) -> str:
    return ngettext("Last %(days)s day", "Last %(days)s days", days) % {"days": days}


def _windows(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """One cell per compliance window, with its title and formatted percentage."""
    return [
        {
            **figures[name],
            "window": name,
            "title": last_days(days),
            "percent": format_percent(figures[name]["compliance_percent"]),
        }
        for name, days in WINDOWS.items()
    ]


def _chart(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars of the breach trend, scaled to the busiest day (at least 1, so a month
    without breaches draws a flat line rather than dividing by zero)."""
    top = max([day["count"] for day in days], default=0) or 1
    step = BAR_WIDTH + BAR_GAP
    bars = []
    for index, day in enumerate(days):
        height = round(day["count"] * CHART_HEIGHT / top, 1)
        x = CHART_LEFT + index * step
        bars.append(
            {
                **day,
                "x": x,
                "y": CHART_HEIGHT - height,
                "height": height,
                "center": x + BAR_WIDTH / 2,
                # Today and every seventh day before it: the same weekday, never crowded.
                "dated": (len(days) - 1 - index) % 7 == 0,
                # "Mon 07 Dec 2026: 3 breaches", the date in the reader's language.
                "label": ngettext(
                    "%(date)s: %(count)s breach", "%(date)s: %(count)s breaches", day["count"]
                )
                % {"date": date_format(day["date"], "D d M Y"), "count": day["count"]},
            }
        )
    return {
        "bars": bars,
        "max": top if any(day["count"] for day in days) else 0,
        # Room on the right for half of today's date label, centred under its bar.
        "width": CHART_LEFT + len(days) * step + CHART_RIGHT,
        "height": CHART_HEIGHT + CHART_BOTTOM,
        "plot_height": CHART_HEIGHT,
        "bar_width": BAR_WIDTH,
        "axis_y": CHART_HEIGHT + 0.5,
        "label_y": CHART_HEIGHT + CHART_BOTTOM - 4,
        "total": sum(day["count"] for day in days),
    }


def dashboard_context(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary, formatted for the page."""
    compliance = summary["compliance"]
    type_labels = dict(MetricType.choices)
    status_labels = dict(SLAStatus.choices)
    priority_labels = dict(Priority.choices)
    breaches = summary["unacknowledged_breaches"]
    at_risk = summary["at_risk"]
    medians = summary["median_seconds"]
    return {
        "overall": _windows(compliance["overall"]),
        "by_metric": [{**row, "windows": _windows(row)} for row in compliance["by_metric"]],
        "by_policy": [{**row, "windows": _windows(row)} for row in compliance["by_policy"]],
        "unacknowledged_count": breaches["count"],
        "breaches": [
            {
                **breach,
                "type_label": type_labels.get(breach["breach_type"], breach["breach_type"]),
                "age": format_duration(breach["age_seconds"]),
            }
            for breach in breaches["newest"]
        ],
        "at_risk_count": at_risk["count"],
        "at_risk": [
            {
                **clock,
                "type_label": type_labels.get(clock["metric_type"], clock["metric_type"]),
                "status_label": status_labels.get(clock["status"], clock["status"]),
                "priority_label": priority_labels.get(clock["priority"], clock["priority"]),
                "time_left": format_duration(clock["time_left_seconds"]),
                "overdue": clock["time_left_seconds"] < 0,
            }
            for clock in at_risk["clocks"]
        ],
        "median_first_response": format_duration(medians["first_response"]),
        "median_resolution": format_duration(medians["resolution"]),
        "chart": _chart(summary["breaches_per_day"]),
        "generated_at": summary["generated_at"],
    }


def _acknowledge(request: HttpRequest) -> None:
    """Acknowledge one breach from its row's form; every outcome is an admin message."""
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                # ErrorList yields each message as a str; its stubs say ValidationError | str.
                messages.error(request, error)  # type: ignore[arg-type]
        return
    breach: SLABreach = form.cleaned_data["breach"]
    try:
        breach_acknowledge(
            breach=breach, actor=signed_in_user(request), note=form.cleaned_data["note"]
        )
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, error_text(error))
        return
    messages.success(
        request,
        gettext("Acknowledged the %(type)s breach on %(ticket)s.")
        % {
            "type": breach.get_breach_type_display().lower(),
            "ticket": Ticket.key_for(breach.ticket_id),
        },
    )


def dashboard_view(request: HttpRequest) -> HttpResponse:
    # admin_view has already let in only active staff; of those, agents and admins work
    # tickets (a requester made staff by mistake gets 403, as in every NixFlow admin).
    if not getattr(request.user, "is_agent", False):
        raise PermissionDenied
    if request.method == "POST":
        _acknowledge(request)
        # Post/redirect/get: a reload does not send the acknowledgement again.
        return HttpResponseRedirect(reverse("sla_dashboard"))
    request.current_app = admin.site.name
    context = {
        **admin.site.each_context(request),
        "title": gettext("SLA dashboard"),
        "window_titles": [last_days(days) for days in WINDOWS.values()],
        **dashboard_context(sla_summary()),
    }
    return TemplateResponse(request, "admin/sla/dashboard.html", context)


def dashboard_urls() -> list[URLPattern]:
    """Included by the root URLconf under ``admin/``, before ``admin.site.urls``."""
    return [path("sla/dashboard/", admin.site.admin_view(dashboard_view), name="sla_dashboard")]
