"""What every report is asked for: a range of desk days and the ticket filters.

One form validates the query string of the admin pages, their CSV and the API alike,
so that the same parameters mean the same report everywhere and a bad one gets the
same message (a field error: 400 from the API, the form's error on the page).

Days are the desk's: ``NIXFLOW_REPORTS_TIME_ZONE`` (default ``TIME_ZONE``) says where
a day starts and ends, so that "Monday" is the desk's Monday and not UTC's; across a
daylight-saving change a day is 23 or 25 hours long.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from nixflow.models import Priority, Source, Tag, Team, Workflow

PRESETS = {"7": 7, "30": 30, "90": 90}
DEFAULT_PRESET = "30"
# A year of days at most: a report is read by a person or a BI tool page by page of
# time, and the per-day series and tables stay a size a page can show.
MAX_DAYS = 366
EARLIEST = datetime.date(1970, 1, 1)
LATEST = datetime.date(2999, 12, 31)


def report_zone() -> zoneinfo.ZoneInfo:
    """The zone the reports cut days in (``NIXFLOW_REPORTS_TIME_ZONE``)."""
    name = getattr(settings, "NIXFLOW_REPORTS_TIME_ZONE", None) or settings.TIME_ZONE
    return zoneinfo.ZoneInfo(name)


def desk_today(zone: zoneinfo.ZoneInfo | None = None) -> datetime.date:
    return timezone.now().astimezone(zone or report_zone()).date()


def day_start(day: datetime.date, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """Midnight of ``day`` in ``zone`` (the first instant of the desk's day)."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)


@dataclass(frozen=True)
class ReportFilters:
    start: datetime.date  # first day, included
    end: datetime.date  # last day, included
    zone: zoneinfo.ZoneInfo
    preset: str = DEFAULT_PRESET  # "7", "30", "90" or "custom"
    interval: str = "day"  # or "week": the volume report's buckets
    workflow: Workflow | None = None
    team: Team | None = None
    channel: str = ""
    priority: str = ""
    tag: Tag | None = None
    params: dict[str, str] = field(default_factory=dict)  # as given, for links and CSV

    @property
    def since(self) -> datetime.datetime:
        return day_start(self.start, self.zone)

    @property
    def until(self) -> datetime.datetime:
        """The first instant after the range: the start of the day after ``end``."""
        return day_start(self.end + datetime.timedelta(days=1), self.zone)

    @property
    def days(self) -> list[datetime.date]:
        count = (self.end - self.start).days + 1
        return [self.start + datetime.timedelta(days=n) for n in range(count)]

    @property
    def has_ticket_filters(self) -> bool:
        return any((self.workflow, self.team, self.channel, self.priority, self.tag))

    def ticket_filters(self, prefix: str = "") -> dict[str, Any]:
        """The ticket filters as ORM lookups, on tickets or (``prefix="ticket__"``) on
        rows that point at a ticket."""
        lookups: dict[str, Any] = {}
        if self.workflow:
            lookups[f"{prefix}workflow"] = self.workflow
        if self.team:
            lookups[f"{prefix}team"] = self.team
        if self.channel:
            lookups[f"{prefix}source"] = self.channel
        if self.priority:
            lookups[f"{prefix}priority"] = self.priority
        if self.tag:
            lookups[f"{prefix}tags"] = self.tag
        return lookups

    def query(self, **changes: str) -> str:
        """The query string of these filters, with ``changes`` (empty values dropped)."""
        params = {**self.params, **changes}
        return urlencode({k: v for k, v in params.items() if v not in ("", None)})

    def describe(self) -> dict[str, Any]:
        """The filters as the API answers them back."""
        return {
            "from": self.start,
            "to": self.end,
            "time_zone": self.zone.key,
            "interval": self.interval,
            "workflow": self.workflow.pk if self.workflow else None,
            "team": self.team.pk if self.team else None,
            "channel": self.channel or None,
            "priority": self.priority or None,
            "tag": self.tag.pk if self.tag else None,
        }


class ReportFilterForm(forms.Form):
    """The query string of a report. ``from``/``to`` (dates, both included) make the
    range custom; otherwise ``range`` picks the last 7, 30 or 90 days, today included."""

    range = forms.ChoiceField(
        required=False,
        choices=[
            ("7", _("Last 7 days")),
            ("30", _("Last 30 days")),
            ("90", _("Last 90 days")),
            ("custom", _("Custom")),
        ],
        label=_("Range"),
    )
    interval = forms.ChoiceField(
        required=False, choices=[("day", _("Day")), ("week", _("Week"))], label=_("Per")
    )
    workflow = forms.ModelChoiceField(
        queryset=Workflow.objects.order_by("name"),
        required=False,
        label=_("Workflow"),
        error_messages={"invalid_choice": _("No workflow has this id.")},
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        label=_("Team"),
        error_messages={"invalid_choice": _("No team has this id.")},
    )
    channel = forms.ChoiceField(
        required=False, choices=[("", "---------"), *Source.choices], label=_("Channel")
    )
    priority = forms.ChoiceField(
        required=False, choices=[("", "---------"), *Priority.choices], label=_("Priority")
    )
    tag = forms.ModelChoiceField(
        queryset=Tag.objects.order_by("name"),
        required=False,
        label=_("Tag"),
        error_messages={"invalid_choice": _("No tag has this id.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword: the two date fields are added by name.
        self.fields = {
            "range": self.fields["range"],
            "from": forms.DateField(
                required=False,
                label=_("From"),
                input_formats=["%Y-%m-%d"],
                widget=forms.DateInput(attrs={"type": "date"}),
                help_text=_("First day, YYYY-MM-DD."),
            ),
            "to": forms.DateField(
                required=False,
                label=_("To"),
                input_formats=["%Y-%m-%d"],
                widget=forms.DateInput(attrs={"type": "date"}),
                help_text=_("Last day, included, YYYY-MM-DD."),
            ),
            **{name: f for name, f in self.fields.items() if name != "range"},
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("from"), data.get("to")
        preset = data.get("range") or ""
        for name in ("from", "to"):
            day = data.get(name)
            if day is not None and not EARLIEST <= day <= LATEST:
                self.add_error(name, _("Give a date between 1970 and 2999."))
                return data
        if start is None and end is None and preset == "custom":
            self.add_error("from", _("A custom range needs a first day (from)."))
            return data
        if start is not None or end is not None:
            zone = report_zone()
            end = end or desk_today(zone)
            start = start or end - datetime.timedelta(days=int(DEFAULT_PRESET) - 1)
            if start > end:
                self.add_error("to", _("The last day (to) must not be before the first (from)."))
                return data
            if (end - start).days + 1 > MAX_DAYS:
                self.add_error(
                    "to", _("A report covers at most %(days)s days.") % {"days": MAX_DAYS}
                )
                return data
            data["from"], data["to"], data["range"] = start, end, "custom"
        return data

    def filters(self) -> ReportFilters:
        """The valid form's filters (call ``is_valid()`` first)."""
        data = self.cleaned_data
        zone = report_zone()
        preset = data.get("range") or DEFAULT_PRESET
        if preset == "custom":
            start, end = data["from"], data["to"]
        else:
            end = desk_today(zone)
            start = end - datetime.timedelta(days=PRESETS[preset] - 1)
        params = {
            name: str(value)
            for name, value in self.data.items()
            if name in self.fields and value not in ("", None)
        }
        return ReportFilters(
            start=start,
            end=end,
            zone=zone,
            preset=preset,
            interval=data.get("interval") or "day",
            workflow=data.get("workflow"),
            team=data.get("team"),
            channel=data.get("channel") or "",
            priority=data.get("priority") or "",
            tag=data.get("tag"),
            params=params,
        )


def filters_default() -> ReportFilters:
    """The last 30 days, no ticket filter."""
    form = ReportFilterForm(data={})
    form.is_valid()
    return form.filters()
