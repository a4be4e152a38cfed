"""Dates and durations, one way everywhere in the admin.

Dates and times: Django's own formatting, with NixFlow's format module
(``FORMAT_MODULE_PATH``, ``nixflow/formats/en/formats.py``): "7 Dec 2026, 14:05", in
the signed-in user's time zone (``nixflow.middleware.UserTimeZoneMiddleware``). Code
that builds HTML itself calls ``format_datetime``; templates write ``{{ value }}`` or
``{{ value|date:"DATETIME_FORMAT" }}``, never a format string of their own.

Durations: ``format_duration`` (template filter ``duration``, from ``nixflow_formats``)
reads "2 h 15 min", "3 d 4 h", "40 min", not "465:36" or "2:15:00", and
``format_time_left`` turns a deadline's distance into "2 h 15 min left" or
"overdue 40 min".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

NO_VALUE = "—"
MINUTE, HOUR, DAY = 60, 3600, 86400


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def format_duration(value: float | timedelta | None, *, empty: str = NO_VALUE) -> str:
    """A length of time in the two largest units that matter, cut (not rounded) to the
    minute: 1500 → "25 min", 8100 → "2 h 15 min", 7200 → "2 h", 93_600 → "1 d 2 h",
    under a minute → "0 min". The sign is dropped: callers say "overdue" or "ago"."""
    if value is None:
        return empty
    minutes = int(abs(_seconds(value)) // MINUTE)
    days, minutes = divmod(minutes, DAY // MINUTE)
    hours, minutes = divmod(minutes, HOUR // MINUTE)
    units = {"days": days, "hours": hours, "minutes": minutes}
    # Abbreviations, the same for one and many ("1 d", "3 d"); translators may change
    # the unit's letters and their order, not the numbers.
    if days:
        if hours:
            return gettext("%(days)d d %(hours)d h") % units
        return gettext("%(days)d d") % units
    if hours:
        if minutes:
            return gettext("%(hours)d h %(minutes)d min") % units
        return gettext("%(hours)d h") % units
    return gettext("%(minutes)d min") % units


def format_left(seconds: float | timedelta) -> str:
    """Time to a deadline: "2 h 15 min left", or "overdue 40 min" at zero and below."""
    left = _seconds(seconds)
    if left <= 0:
        return gettext("overdue %(duration)s") % {"duration": format_duration(left)}
    return gettext("%(duration)s left") % {"duration": format_duration(left)}


def format_time_left(deadline: datetime, *, now: datetime | None = None) -> str:
    """``format_left`` of the time from ``now`` to ``deadline``."""
    return format_left(deadline - (now or timezone.now()))


def format_datetime(value: datetime | None, *, empty: str = NO_VALUE) -> str:
    """A moment as the admin shows it: DATETIME_FORMAT, in the active time zone."""
    if value is None:
        return empty
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


def format_datetime_html(value: datetime | None, *, empty: str = "") -> SafeString | str:
    """``format_datetime`` for narrow table cells: "7 Dec 2026," and "14:05" each kept
    whole, so that the cell breaks between date and time or not at all (the
    ``nf-nowrap`` class of nixflow/static/nixflow/admin/ticket_list.css)."""
    if value is None:
        return empty
    local = timezone.localtime(value)
    return format_html(
        '<span class="nf-nowrap">{},</span> <span class="nf-nowrap">{}</span>',
        formats.date_format(local, "DATE_FORMAT"),
        formats.date_format(local, "TIME_FORMAT"),
    )
