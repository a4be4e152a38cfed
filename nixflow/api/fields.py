"""JSON scalars read as the schema types them.

DRF's ``CharField`` reads a JSON number as text (``0`` → ``"0"``), its ``BooleanField``
reads ``1``, ``"yes"`` or ``"on"`` as true, a related field reads ``""`` as null and a
list of related ids takes a JSON object for an empty list: leniency meant for HTML
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
from rest_framework import fields, relations


def _from_json(field: fields.Field) -> bool:
    initial = getattr(field.root, "initial_data", None)
    return initial is not None and not isinstance(initial, QueryDict)


def _strict(cls: type[fields.Field], json_types: tuple[type, ...], error: str) -> None:
    """``cls`` refuses, in a JSON body, a value of any other type than ``json_types``
    (``null`` and a missing value stay the field's own business)."""
    if getattr(cls.run_validation, "json_types", None) is not None:
        return
    lenient = cls.run_validation

    def run_validation(self: fields.Field, data: Any = fields.empty) -> Any:
        # bool is an int in Python, not in JSON: true is no id.
        wrong = not isinstance(data, json_types) or (
            isinstance(data, bool) and bool not in json_types
        )
        if data is not fields.empty and data is not None and wrong and _from_json(self):
            self.fail(error, data_type=type(data).__name__, input_type=type(data).__name__)
        return lenient(self, data)

    run_validation.json_types = json_types  # type: ignore[attr-defined]
    cls.run_validation = run_validation  # type: ignore[method-assign]


def strict_json_scalars() -> None:
    _strict(fields.CharField, (str,), "invalid")
    _strict(fields.BooleanField, (bool,), "invalid")
    _strict(relations.PrimaryKeyRelatedField, (int,), "incorrect_type")
    _strict(relations.ManyRelatedField, (list,), "not_a_list")
