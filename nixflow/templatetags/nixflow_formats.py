"""``{% load nixflow_formats %}``: durations as the admin writes them everywhere
(nixflow.toolkit.formats): ``{{ seconds|duration }}`` → "2 h 15 min",
``{{ deadline|time_left }}`` → "2 h 15 min left" / "overdue 40 min"."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template

from nixflow.toolkit.formats import format_duration, format_time_left

register = template.Library()


@register.filter
def duration(value: float | timedelta | None) -> str:
    return format_duration(value)


@register.filter
def time_left(value: datetime | None) -> str:
    return "" if value is None else format_time_left(value)
