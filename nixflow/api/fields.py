"""JSON scalars read as the schema types them.

DRF's ``CharField`` reads a JSON number as text (``0`` → ``"0"``) and its
``BooleanField`` reads ``1``, ``"yes"`` or ``"on"`` as true: leniency meant for HTML
forms, where everything is text. The schema says ``string`` and ``boolean``, and a client
generated from it sends those; anything else in a JSON body is a mistake that should be a
400, not a guess (tests/test_api_fuzz.py checks that schema-violating requests are
refused). Form-encoded bodies and query strings (a ``QueryDict``, all text) are read as
DRF reads them.

Applied to DRF's classes themselves, once, when the API's serializers are imported, so
that every field of every app's API (model-derived ones included, and their subclasses:
e-mail, slug, regex, URL fields) follows the same rule without each serializer naming it.
"""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from rest_framework import fields


def _from_json(field: fields.Field) -> bool:
    initial = getattr(field.root, "initial_data", None)
    return initial is not None and not isinstance(initial, QueryDict)


def _strict(cls: type[fields.Field], json_types: tuple[type, ...]) -> None:
    if getattr(cls.to_internal_value, "json_types", None) is not None:
        return
    lenient = cls.to_internal_value

    def to_internal_value(self: fields.Field, data: Any) -> Any:
        if _from_json(self) and not isinstance(data, json_types):
            self.fail("invalid")
        return lenient(self, data)

    to_internal_value.json_types = json_types  # type: ignore[attr-defined]
    cls.to_internal_value = to_internal_value  # type: ignore[method-assign]


def strict_json_scalars() -> None:
    _strict(fields.CharField, (str,))
    _strict(fields.BooleanField, (bool,))
