"""Query-string filters every app's API shares, with no domain of their own (the event
log uses them too, and it knows nothing of tickets)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field


class UTCDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, given to the database in UTC.

    ISO 8601 allows any UTC offset up to ±23:59, PostgreSQL only up to ±15:59: a time
    such as ``2026-03-02T09:00+17:00`` would reach the query as it is and fail there
    (a 500). In UTC it is the same instant; one that has no UTC form in Python's range
    (``0001-01-01T00:00+01:00``) is a 400.
    """

    default_error_messages = {"out_of_range": "Enter a date/time between the years 1 and 9999."}

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise forms.ValidationError(
                self.error_messages["out_of_range"], code="out_of_range"
            ) from exc


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class StrictBooleanField(forms.Field):
    """``true`` or ``false`` (or 1 / 0); anything else is a 400, not "no filter" (as
    django-filter's BooleanFilter reads an unknown value), so a typo never returns every
    row as if it were the answer."""

    def to_python(self, value: Any) -> bool | None:
        text = str(value or "").strip().lower()
        if not text:
            return None
        if text in {"true", "1"}:
            return True
        if text in {"false", "0"}:
            return False
        raise forms.ValidationError("Enter true or false.", code="invalid")


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField
