"""What the form page's template needs for each field: ids, widget, posted values, errors.

Shared by the public page (``forms_builder.views``) and the admin's preview, so that the
preview shows exactly what requesters will see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict
from django.utils.translation import gettext

from forms_builder.models import FormFieldType
from forms_builder.validation import Definition, FieldSpec, human_size

SUBMITTER_EMAIL = "submitter_email"
HONEYPOT = "nf-website"  # a hyphen: no field key can take this name
NOT_ANSWERS = frozenset({SUBMITTER_EMAIL, HONEYPOT, "csrfmiddlewaretoken"})

INPUT_TYPES = {
    FormFieldType.TEXT: "text",
    FormFieldType.EMAIL: "email",
    # Numbers as text with a numeric keyboard: a type=number input drops what it can't
    # parse and posts nothing, so the server could only say "required".
    FormFieldType.NUMBER: "text",
    FormFieldType.DATE: "date",
    FormFieldType.DATETIME: "datetime-local",
    FormFieldType.URL: "url",
    FormFieldType.PHONE: "tel",
}
AUTOCOMPLETE = {FormFieldType.EMAIL: "email", FormFieldType.PHONE: "tel"}


@dataclass(frozen=True)
class Option:
    value: str
    id: str
    selected: bool


@dataclass
class PageField:
    spec: FieldSpec
    id: str
    widget: str
    input_type: str = ""
    inputmode: str = ""
    autocomplete: str = ""
    value: str = ""
    checked: bool = False
    options: list[Option] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    condition: str = ""
    accept: str = ""
    file_note: str = ""

    @property
    def described_by(self) -> str:
        ids = []
        if self.spec.help_text or self.file_note:
            ids.append(f"{self.id}-help")
        if self.condition:
            ids.append(f"{self.id}-condition")
        if self.errors:
            ids.append(f"{self.id}-error")
        return " ".join(ids)

    @property
    def error_target(self) -> str:
        """Where the error summary's link jumps: the input, or a group's first option."""
        return self.options[0].id if self.widget in {"radio", "multiselect"} else self.id


def posted_answers(post: QueryDict) -> dict[str, list[str]]:
    """A page's POST as the validation engine takes it: every value of every answer."""
    return {key: post.getlist(key) for key in post if key not in NOT_ANSWERS}


def page_fields(
    definition: Definition,
    values: Mapping[str, Sequence[str]] | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
) -> list[PageField]:
    values = values or {}
    errors = errors or {}
    labels = {spec.key: spec.label for spec in definition.fields}
    shown = []
    for spec in definition.fields:
        posted = list(values.get(spec.key, ()))
        single = posted[0] if posted else ""
        page = PageField(
            spec=spec,
            id=f"id_{spec.key}",
            widget=_widget(spec.type),
            input_type=INPUT_TYPES.get(FormFieldType(spec.type), ""),
            inputmode="decimal" if spec.type == FormFieldType.NUMBER else "",
            autocomplete=AUTOCOMPLETE.get(FormFieldType(spec.type), ""),
            value=single,
            checked=single.lower() in {"yes", "on", "true", "1"},
            errors=list(errors.get(spec.key, ())),
        )
        if spec.type in {FormFieldType.SELECT, FormFieldType.RADIO, FormFieldType.MULTISELECT}:
            page.options = [
                Option(value=choice, id=f"id_{spec.key}_{n}", selected=choice in posted)
                for n, choice in enumerate(spec.choices)
            ]
        if spec.type == FormFieldType.FILE:
            types = ", ".join(f".{ext}" for ext in spec.allowed_file_types)
            page.accept = ",".join(f".{ext}" for ext in spec.allowed_file_types)
            size = human_size(spec.max_size)
            if types:
                page.file_note = gettext("At most %(size)s; %(types)s.") % {
                    "size": size,
                    "types": types,
                }
            else:
                page.file_note = gettext("At most %(size)s.") % {"size": size}
        if spec.visible_when_field:
            controller = labels.get(spec.visible_when_field, spec.visible_when_field)
            page.condition = gettext("Answer this only if “%(field)s” is “%(value)s”.") % {
                "field": controller,
                "value": spec.visible_when_value,
            }
        shown.append(page)
    return shown


def _widget(kind: str) -> str:
    return {
        FormFieldType.TEXTAREA: "textarea",
        FormFieldType.SELECT: "select",
        FormFieldType.RADIO: "radio",
        FormFieldType.MULTISELECT: "multiselect",
        FormFieldType.CHECKBOX: "checkbox",
        FormFieldType.FILE: "file",
    }.get(FormFieldType(kind), "input")


def error_summary(
    fields: Sequence[PageField], errors: Mapping[str, Sequence[str]]
) -> list[dict[str, Any]]:
    """The list at the top of the page: each error, linked to its field."""
    items = [
        {"target": f.error_target, "label": f.spec.label, "message": message}
        for f in fields
        for message in f.errors
    ]
    if SUBMITTER_EMAIL in errors:
        items.insert(
            0,
            {
                "target": f"id_{SUBMITTER_EMAIL}",
                "label": gettext("Your e-mail address"),
                "message": errors[SUBMITTER_EMAIL][0],
            },
        )
    known = {f.spec.key for f in fields} | {SUBMITTER_EMAIL}
    items += [
        {"target": "", "label": "" if key == "__all__" else key, "message": message}
        for key, messages in errors.items()
        if key not in known
        for message in messages
    ]
    return items
