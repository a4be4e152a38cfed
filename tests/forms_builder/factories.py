"""factory-boy factories for the form builder's models.

- ``CustomFormFactory`` builds a form *through the services*, as a designer would
  (``form_create`` then ``form_set_status``): ``CustomFormFactory(fields=[...],
  status=FormStatus.DRAFT, name=...)``. Published and public unless told otherwise.
- ``FormFieldFactory`` and one subclass per field type build *unsaved* fields, to hand
  to ``CustomFormFactory(fields=...)`` or to the form services, which save them.
- ``FormSubmissionFactory`` and ``FormSubmissionAttachmentFactory`` write rows directly
  with a snapshot of the form: for setting a scene (lists, exports). Tests of what a
  submission does go through ``services.submission_create``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import factory
from django.utils.text import slugify

from forms_builder import services
from forms_builder.models import (
    CustomForm,
    FormField,
    FormFieldType,
    FormStatus,
    FormSubmission,
    FormSubmissionAttachment,
    FormSubmissionStatus,
    SubmitterIdentity,
)
from forms_builder.validation import Definition

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class FormFieldFactory(factory.django.DjangoModelFactory[FormField]):
    """An unsaved text field; ``key`` and ``label`` follow a sequence, or the label
    follows the key given: ``FormFieldFactory(key="employee_name")``."""

    class Meta:
        model = FormField
        strategy = factory.BUILD_STRATEGY

    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.LazyAttribute(lambda f: f.key.replace("_", " ").capitalize())
    field_type = FormFieldType.TEXT
    order = 0


class TextareaFieldFactory(FormFieldFactory):
    field_type = FormFieldType.TEXTAREA


class EmailFieldFactory(FormFieldFactory):
    field_type = FormFieldType.EMAIL


class NumberFieldFactory(FormFieldFactory):
    field_type = FormFieldType.NUMBER


class DateFieldFactory(FormFieldFactory):
    field_type = FormFieldType.DATE


class DateTimeFieldFactory(FormFieldFactory):
    field_type = FormFieldType.DATETIME


class SelectFieldFactory(FormFieldFactory):
    field_type = FormFieldType.SELECT
    choices = factory.LazyFunction(lambda: ["Yes", "No"])


class MultiselectFieldFactory(SelectFieldFactory):
    field_type = FormFieldType.MULTISELECT


class RadioFieldFactory(SelectFieldFactory):
    field_type = FormFieldType.RADIO


class CheckboxFieldFactory(FormFieldFactory):
    field_type = FormFieldType.CHECKBOX


class FileFieldFactory(FormFieldFactory):
    field_type = FormFieldType.FILE


class UrlFieldFactory(FormFieldFactory):
    field_type = FormFieldType.URL


class PhoneFieldFactory(FormFieldFactory):
    field_type = FormFieldType.PHONE


FIELD_FACTORIES: dict[str, type[FormFieldFactory]] = {
    FormFieldType.TEXT: FormFieldFactory,
    FormFieldType.TEXTAREA: TextareaFieldFactory,
    FormFieldType.EMAIL: EmailFieldFactory,
    FormFieldType.NUMBER: NumberFieldFactory,
    FormFieldType.DATE: DateFieldFactory,
    FormFieldType.DATETIME: DateTimeFieldFactory,
    FormFieldType.SELECT: SelectFieldFactory,
    FormFieldType.MULTISELECT: MultiselectFieldFactory,
    FormFieldType.RADIO: RadioFieldFactory,
    FormFieldType.CHECKBOX: CheckboxFieldFactory,
    FormFieldType.FILE: FileFieldFactory,
    FormFieldType.URL: UrlFieldFactory,
    FormFieldType.PHONE: PhoneFieldFactory,
}


def field(key: str, field_type: str = FormFieldType.TEXT, **values: Any) -> FormField:
    """An unsaved field of ``field_type`` from that type's factory."""
    return FIELD_FACTORIES[field_type](key=key, **values)


class CustomFormFactory(factory.django.DjangoModelFactory[CustomForm]):
    """A form made through the form services (so with its version and events).

    ``fields``: unsaved fields (default: one required text field ``name``); ``status``:
    published unless told; ``actor``: the designer (None, the system, by default).
    """

    class Meta:
        model = CustomForm

    name = factory.Sequence(lambda n: f"Form {n}")
    slug = factory.LazyAttribute(lambda f: slugify(f.name))
    login_required = False

    @classmethod
    def _create(cls, model_class: type[CustomForm], *args: Any, **values: Any) -> CustomForm:
        fields = values.pop("fields", None)
        status = values.pop("status", FormStatus.PUBLISHED)
        actor = values.pop("actor", None)
        rows = [field("name", required=True)] if fields is None else list(fields)
        for n, row in enumerate(rows):
            row.order = row.order or (n + 1) * 10
        form = services.form_create(form=model_class(**values), fields=rows, actor=actor)
        if status != FormStatus.DRAFT:
            form = services.form_set_status(form=form, status=status, actor=actor)
        return form


class FormSubmissionFactory(factory.django.DjangoModelFactory[FormSubmission]):
    """A received submission of a new address, written directly with the form's current
    snapshot; no ticket, no events."""

    class Meta:
        model = FormSubmission

    form = factory.SubFactory(CustomFormFactory)
    form_version = factory.LazyAttribute(lambda s: s.form.version)
    form_snapshot = factory.LazyAttribute(lambda s: Definition.from_form(s.form).snapshot())
    submitter = None
    submitter_email = factory.Sequence(lambda n: f"submitter{n}@example.com")
    identity = SubmitterIdentity.NEW_ADDRESS
    status = FormSubmissionStatus.RECEIVED
    data = factory.LazyFunction(lambda: {"name": "Ann Lee"})


class FormSubmissionAttachmentFactory(factory.django.DjangoModelFactory[FormSubmissionAttachment]):
    """A stored PNG of a submission (in the test's own MEDIA_ROOT)."""

    class Meta:
        model = FormSubmissionAttachment

    submission = factory.SubFactory(FormSubmissionFactory)
    field_key = "screenshot"
    original_name = "screen.png"
    file = factory.django.FileField(data=PNG, filename="screen.png")
    size = len(PNG)
    content_type = "image/png"
    sha256 = hashlib.sha256(PNG).hexdigest()
