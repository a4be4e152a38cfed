"""The one validation engine of submitted answers, built from a form's field definitions.

The HTML page, the API and the admin's preview all call ``clean_submission``; services
call it again before storing anything, so no interface can store an answer it did not
check. The engine works on a ``Definition``: the serialised form of the fields, built
from the live ``FormField`` rows or read back from a submission's snapshot (the same
dictionary is what ``FormSubmission.form_snapshot`` stores).

Rules:
- every error names its field (the key) and says what is wrong in words a requester
  understands; all errors are reported at once;
- a field shown only when another field has some answer (``visible_when``) is, while
  hidden, neither required nor stored, whatever was sent for it;
- keys the form does not have are refused;
- files are checked for size, extension and, for common types, content (a ``.pdf``
  must start like a PDF) before anything is stored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import EmailValidator, URLValidator
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext, gettext_lazy, ngettext

from forms_builder.models import (
    CHOICE_TYPES,
    RESERVED_KEYS,
    FormFieldType,
    parse_extensions,
)
from nixflow.models import FieldType, Priority, TicketField, Workflow

if TYPE_CHECKING:
    from forms_builder.models import CustomForm, FormField

SNAPSHOT_SCHEMA = 1
REQUIRED = gettext_lazy("This field is required.")
UNKNOWN = gettext_lazy("This form has no such field.")
# Upper bounds when the designer set none: a text field is a line, a text area a letter.
DEFAULT_MAX_LENGTH = {FormFieldType.TEXT: 1000, FormFieldType.TEXTAREA: 20000}
MAX_EMAIL_LENGTH = 254
MAX_URL_LENGTH = 2000
MAX_NUMBER_DIGITS = 15  # what a JSON number (a double) keeps exactly
TRUE_WORDS = frozenset({"true", "yes", "on", "1", "checked"})
FALSE_WORDS = frozenset({"false", "no", "off", "0", ""})
PHONE = re.compile(r"\+?[0-9][0-9 ().\-/]*")
PHONE_DIGITS = (5, 20)

# The first bytes of file types people upload to a service desk. A file whose extension
# is listed here must start with one of its signatures, so that a renamed executable
# can't pass as a screenshot. Types not listed (text, logs, CSV) are not sniffed.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "docx": (b"PK\x03\x04",),
    "xlsx": (b"PK\x03\x04",),
    "pptx": (b"PK\x03\x04",),
    "odt": (b"PK\x03\x04",),
    "ods": (b"PK\x03\x04",),
}
TYPE_NAMES = {
    "jpg": gettext_lazy("JPEG image"),
    "jpeg": gettext_lazy("JPEG image"),
    "png": gettext_lazy("PNG image"),
    "gif": gettext_lazy("GIF image"),
}


# --- The definition -----------------------------------------------------------------------
@dataclass(frozen=True)
class FieldSpec:
    """One field as the engine and the snapshot see it."""

    key: str
    label: str
    type: str
    required: bool = False
    help_text: str = ""
    placeholder: str = ""
    choices: tuple[str, ...] = ()
    min_length: int | None = None
    max_length: int | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    pattern: str = ""
    pattern_message: str = ""
    max_file_size: int | None = None
    allowed_file_types: tuple[str, ...] = ()
    visible_when_field: str = ""
    visible_when_value: str = ""
    # The name of the ticket's custom field the answer is copied into ("": none).
    ticket_field: str = ""

    @classmethod
    def from_model(cls, row: FormField) -> FieldSpec:
        return cls(
            # Keyword arguments one a line: alike other constructor calls, different fields.
            key=row.key,
            label=row.label,
            type=row.field_type,
            required=row.required,
            help_text=row.help_text,
            placeholder=row.placeholder,
            choices=tuple(c.strip() for c in row.choices or ()),
            min_length=row.min_length,
            max_length=row.max_length,
            min_value=_decimal(row.min_value),
            max_value=_decimal(row.max_value),
            pattern=row.pattern,
            pattern_message=row.pattern_message,
            max_file_size=row.max_file_size,
            allowed_file_types=parse_extensions(row.allowed_file_types or ""),
            visible_when_field=row.visible_when_field,
            visible_when_value=row.visible_when_value,
            ticket_field=row.ticket_field.name if row.ticket_field is not None else "",
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldSpec:
        known = cls.__dataclass_fields__
        values = {name: value for name, value in data.items() if name in known}
        values["choices"] = tuple(values.get("choices") or ())
        values["allowed_file_types"] = tuple(values.get("allowed_file_types") or ())
        values["min_value"] = _decimal(values.get("min_value"))
        values["max_value"] = _decimal(values.get("max_value"))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["choices"] = list(self.choices)
        data["allowed_file_types"] = list(self.allowed_file_types)
        # Decimals as text: exact, and JSON has no decimal type.
        for name in ("min_value", "max_value"):
            value = data[name]
            data[name] = None if value is None else _decimal_text(value)
        return data

    @property
    def max_size(self) -> int:
        """The effective size limit of a file field, in bytes."""
        limit = settings.NIXFLOW_MAX_ATTACHMENT_BYTES
        return min(self.max_file_size, limit) if self.max_file_size else limit


@dataclass(frozen=True)
# Frozen dataclass declarations look alike across apps (knowledge demo topics): different records.
class Definition:
    """A form's fields and ticket mapping, as validated and as snapshotted."""

    name: str
    slug: str
    version: int
    fields: tuple[FieldSpec, ...]
    description: str = ""
    title_template: str = ""
    description_field: str = ""
    priority_field: str = ""
    priority_map: dict[str, str] = field(default_factory=dict)
    default_priority: str = Priority.NORMAL
    workflow_id: int | None = None

    @classmethod
    def from_form(cls, form: CustomForm, rows: Iterable[FormField] | None = None) -> Definition:
        rows = form.fields.select_related("ticket_field") if rows is None else rows
        return cls(
            name=form.name,
            slug=form.slug,
            version=form.version,
            description=form.description,
            fields=tuple(FieldSpec.from_model(row) for row in rows),
            title_template=form.title_template,
            description_field=form.description_field,
            priority_field=form.priority_field,
            priority_map=dict(form.priority_map or {}),
            default_priority=form.default_priority,
            workflow_id=form.workflow_id,
        )

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> Definition:
        return cls(
            name=snapshot.get("name", ""),
            slug=snapshot.get("slug", ""),
            version=snapshot.get("version", 0),
            description=snapshot.get("description", ""),
            fields=tuple(FieldSpec.from_dict(f) for f in snapshot.get("fields", ())),
            title_template=snapshot.get("title_template", ""),
            description_field=snapshot.get("description_field", ""),
            priority_field=snapshot.get("priority_field", ""),
            priority_map=dict(snapshot.get("priority_map") or {}),
            default_priority=snapshot.get("default_priority", Priority.NORMAL),
            workflow_id=snapshot.get("workflow_id"),
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "schema": SNAPSHOT_SCHEMA,
            "name": self.name,
            "slug": self.slug,
            "version": self.version,
            "description": self.description,
            "title_template": self.title_template,
            "description_field": self.description_field,
            "priority_field": self.priority_field,
            "priority_map": dict(self.priority_map),
            "default_priority": self.default_priority,
            "workflow_id": self.workflow_id,
            "fields": [spec.to_dict() for spec in self.fields],
        }

    def get(self, key: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.key == key), None)

    @property
    def has_files(self) -> bool:
        return any(spec.type == FormFieldType.FILE for spec in self.fields)


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


# --- Cleaning answers ---------------------------------------------------------------------
@dataclass(frozen=True)
class CleanedSubmission:
    """What passed: the answers of visible fields (JSON values) and their uploads."""

    data: dict[str, Any]
    files: dict[str, UploadedFile]


class _Invalid(Exception):  # noqa: N818 -- internal signal carrying a message
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_MISSING = object()


def clean_submission(
    definition: Definition,
    data: Mapping[str, Any],
    files: Mapping[str, Sequence[UploadedFile]] | None = None,
) -> CleanedSubmission:
    """Validate answers against ``definition``; ValidationError({key: [messages]}).

    ``data`` maps keys to values: JSON values, or lists of strings as a QueryDict gives
    them (``{k: qd.getlist(k)}``); ``files`` maps keys to uploads.
    """
    return _Cleaning(definition, data, files or {}).run()


class _Cleaning:
    """One submission being cleaned: each field's answer is cleaned once, when it is
    first needed (to show or hide another field, or as an answer of its own)."""

    def __init__(
        self,
        definition: Definition,
        data: Mapping[str, Any],
        files: Mapping[str, Sequence[UploadedFile]],
    ) -> None:
        self.definition = definition
        self.data = data
        self.files = files
        self.by_key = {spec.key: spec for spec in definition.fields}
        self.results: dict[str, Any] = {}  # key -> cleaned value or _Invalid
        self.visibility: dict[str, bool] = {}

    def cleaned(self, spec: FieldSpec) -> Any:
        if spec.key not in self.results:
            try:
                value = _clean_field(spec, self.data.get(spec.key, _MISSING), self.files)
            except _Invalid as invalid:
                value = invalid
            self.results[spec.key] = value
        return self.results[spec.key]

    def visible(self, spec: FieldSpec, seen: frozenset[str] = frozenset()) -> bool:
        if spec.key not in self.visibility:
            self.visibility[spec.key] = self._shown(spec, seen)
        return self.visibility[spec.key]

    def _shown(self, spec: FieldSpec, seen: frozenset[str]) -> bool:
        if not spec.visible_when_field:
            return True
        controller = self.by_key.get(spec.visible_when_field)
        # A missing or circular reference hides the field (definition_errors keeps
        # designers from saving either); so does an invalid controlling answer.
        if (
            controller is None
            or controller.key in seen
            or spec.key in seen
            or not self.visible(controller, seen | {spec.key})
        ):
            return False
        value = self.cleaned(controller)
        return not isinstance(value, _Invalid) and _matches(
            controller, value, spec.visible_when_value
        )

    def run(self) -> CleanedSubmission:
        unknown = sorted({*self.data, *self.files} - set(self.by_key))
        errors: dict[str, list[str]] = {key: [str(UNKNOWN)] for key in unknown}
        answers: dict[str, Any] = {}
        uploads: dict[str, UploadedFile] = {}
        for spec in self.definition.fields:
            if not self.visible(spec):
                continue
            value = self.cleaned(spec)
            if isinstance(value, _Invalid):
                errors[spec.key] = [value.message]
            elif spec.type == FormFieldType.FILE:
                answers[spec.key] = None if value is None else _original_name(value)
                if value is not None:
                    uploads[spec.key] = value
            else:
                answers[spec.key] = value
        if errors:
            raise ValidationError(errors)
        return CleanedSubmission(data=answers, files=uploads)


def _matches(controller: FieldSpec, value: Any, expected: str) -> bool:
    """Whether the controlling answer ``value`` is ``expected``: yes/no for a check box,
    one of the options chosen for multiple choice, the same number, the same option, or
    the same text ignoring case."""
    expected = expected.strip()
    kind = controller.type
    if kind == FormFieldType.CHECKBOX:
        matched = bool(value) == (expected.lower() in TRUE_WORDS)
    elif kind == FormFieldType.MULTISELECT:
        matched = expected in (value or ())
    elif value is None:
        matched = False
    elif kind == FormFieldType.NUMBER:
        try:
            matched = Decimal(str(value)) == Decimal(expected)
        except InvalidOperation:
            matched = False
    elif kind in CHOICE_TYPES:
        matched = value == expected
    else:
        matched = str(value).strip().casefold() == expected.casefold()
    return matched


def _single(spec: FieldSpec, raw: Any) -> Any:
    """One value: a QueryDict's one-element list unwrapped; several are refused."""
    if isinstance(raw, list | tuple):
        if len(raw) > 1:
            raise _Invalid(gettext("Give one answer, not several."))
        return raw[0] if raw else None
    return raw


def _is_empty(value: Any) -> bool:
    return value is _MISSING or value is None or (isinstance(value, str) and not value.strip())


def _clean_field(spec: FieldSpec, raw: Any, files: Mapping[str, Sequence[UploadedFile]]) -> Any:
    kind = spec.type
    if kind == FormFieldType.FILE:
        return _clean_file(spec, raw, files.get(spec.key) or ())
    if kind == FormFieldType.MULTISELECT:
        return _clean_multiselect(spec, raw)
    if kind == FormFieldType.CHECKBOX:
        return _clean_checkbox(spec, raw)
    value = _single(spec, raw)
    if _is_empty(value):
        if spec.required:
            raise _Invalid(str(REQUIRED))
        return None
    cleaner = _CLEANERS[kind]
    return cleaner(spec, value)


def _text_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _Invalid(gettext("Enter text."))
    text = str(value)
    if "\x00" in text:
        # PostgreSQL can store no NUL character in text or JSON.
        raise _Invalid(gettext("Null characters are not allowed."))
    return text


def _check_length(spec: FieldSpec, text: str, default_max: int | None = None) -> None:
    maximum = spec.max_length if spec.max_length is not None else default_max
    if spec.min_length is not None and len(text) < spec.min_length:
        raise _Invalid(
            ngettext(
                "Ensure this value has at least %(limit)d character (it has %(length)d).",
                "Ensure this value has at least %(limit)d characters (it has %(length)d).",
                spec.min_length,
            )
            % {"limit": spec.min_length, "length": len(text)}
        )
    if maximum is not None and len(text) > maximum:
        raise _Invalid(
            ngettext(
                "Ensure this value has at most %(limit)d character (it has %(length)d).",
                "Ensure this value has at most %(limit)d characters (it has %(length)d).",
                maximum,
            )
            % {"limit": maximum, "length": len(text)}
        )


def _check_pattern(spec: FieldSpec, text: str) -> None:
    # Patterns are written by staff, and answers are bounded by max_length, which bounds
    # the cost of a careless expression.
    if spec.pattern and re.fullmatch(spec.pattern, text) is None:
        raise _Invalid(spec.pattern_message or gettext("Enter a value in the expected format."))


def _clean_text(spec: FieldSpec, value: Any) -> str:
    text = _text_value(value)
    if spec.type == FormFieldType.TEXTAREA:
        text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    else:
        text = " ".join(text.split())  # one line: newlines and runs of spaces collapse
    _check_length(spec, text, DEFAULT_MAX_LENGTH.get(FormFieldType(spec.type)))
    _check_pattern(spec, text)
    return text


def _clean_email(spec: FieldSpec, value: Any) -> str:
    text = _text_value(value).strip()
    if len(text) > MAX_EMAIL_LENGTH:
        raise _Invalid(_at_most_characters(MAX_EMAIL_LENGTH))
    try:
        EmailValidator()(text)
    except ValidationError as exc:
        raise _Invalid(gettext("Enter a valid e-mail address, like name@example.com.")) from exc
    _check_length(spec, text)
    return text


def _clean_url(spec: FieldSpec, value: Any) -> str:
    text = _text_value(value).strip()
    if "://" not in text:
        text = f"https://{text}"
    if len(text) > MAX_URL_LENGTH:
        raise _Invalid(_at_most_characters(MAX_URL_LENGTH))
    try:
        URLValidator(schemes=["http", "https"])(text)
    except ValidationError as exc:
        raise _Invalid(
            gettext("Enter a valid web address, like https://example.com/page.")
        ) from exc
    _check_length(spec, text)
    return text


def _clean_phone(spec: FieldSpec, value: Any) -> str:
    text = " ".join(_text_value(value).split())
    digits = sum(ch.isdigit() for ch in text)
    low, high = PHONE_DIGITS
    if not PHONE.fullmatch(text) or not low <= digits <= high:
        raise _Invalid(
            gettext(
                "Enter a phone number of digits, spaces and + ( ) - only, e.g. +44 20 7946 0958."
            )
        )
    _check_length(spec, text)
    _check_pattern(spec, text)
    return text


def _clean_number(spec: FieldSpec, value: Any) -> int | float:
    if isinstance(value, bool):
        raise _Invalid(gettext("Enter a number."))
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise _Invalid(gettext("Enter a number.")) from exc
    if not number.is_finite():
        raise _Invalid(gettext("Enter a number."))
    number = number.normalize()
    if len(number.as_tuple().digits) > MAX_NUMBER_DIGITS or number.adjusted() >= MAX_NUMBER_DIGITS:
        raise _Invalid(
            gettext("Enter a number of at most %(digits)d digits.") % {"digits": MAX_NUMBER_DIGITS}
        )
    if spec.min_value is not None and number < spec.min_value:
        raise _Invalid(
            gettext("Ensure this value is greater than or equal to %(limit)s.")
            % {"limit": _decimal_text(spec.min_value)}
        )
    if spec.max_value is not None and number > spec.max_value:
        raise _Invalid(
            gettext("Ensure this value is less than or equal to %(limit)s.")
            % {"limit": _decimal_text(spec.max_value)}
        )
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def _clean_date(spec: FieldSpec, value: Any) -> str:
    text = _text_value(value).strip()
    try:
        parsed = parse_date(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise _Invalid(gettext("Enter a valid date as YYYY-MM-DD, e.g. 2026-03-02."))
    return parsed.isoformat()


def _clean_datetime(spec: FieldSpec, value: Any) -> str:
    text = _text_value(value).strip()
    try:
        parsed: datetime | None = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise _Invalid(
            gettext("Enter a valid date and time as YYYY-MM-DD HH:MM, e.g. 2026-03-02 09:30.")
        )
    if timezone.is_naive(parsed):
        # Browsers send datetime-local without an offset: it is the desk's local time.
        parsed = timezone.make_aware(parsed)
    return parsed.isoformat()


def _clean_choice(spec: FieldSpec, value: Any) -> str:
    text = _text_value(value).strip()
    if text not in spec.choices:
        raise _Invalid(_not_a_choice(text))
    return text


def _clean_multiselect(spec: FieldSpec, raw: Any) -> list[str]:
    if raw is _MISSING or raw is None or raw == "":
        values: list[Any] = []
    elif isinstance(raw, list | tuple):
        values = list(raw)
    else:
        values = [raw]
    chosen: list[str] = []
    for item in values:
        text = _text_value(item).strip()
        if not text:
            continue
        if text not in spec.choices:
            raise _Invalid(_not_a_choice(text))
        if text not in chosen:
            chosen.append(text)
    if not chosen and spec.required:
        raise _Invalid(str(REQUIRED))
    if chosen and spec.min_length is not None and len(chosen) < spec.min_length:
        raise _Invalid(
            ngettext(
                "Choose at least %(count)d option.",
                "Choose at least %(count)d options.",
                spec.min_length,
            )
            % {"count": spec.min_length}
        )
    if spec.max_length is not None and len(chosen) > spec.max_length:
        raise _Invalid(
            ngettext(
                "Choose at most %(count)d option.",
                "Choose at most %(count)d options.",
                spec.max_length,
            )
            % {"count": spec.max_length}
        )
    # Stored in the options' order, whatever order they were sent in.
    return [choice for choice in spec.choices if choice in chosen]


def _clean_checkbox(spec: FieldSpec, raw: Any) -> bool:
    value = None if raw is _MISSING else _single(spec, raw)
    if value is None:
        checked = False
    elif isinstance(value, bool):
        checked = value
    elif isinstance(value, int) and value in (0, 1):
        checked = bool(value)
    elif isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        checked = value.strip().lower() in TRUE_WORDS
    else:
        raise _Invalid(gettext("Answer yes or no."))
    if spec.required and not checked:
        raise _Invalid(gettext("Tick this box to continue."))
    return checked


def _clean_file(spec: FieldSpec, raw: Any, uploads: Sequence[UploadedFile]) -> UploadedFile | None:
    sent = [] if raw is _MISSING else raw if isinstance(raw, list | tuple) else [raw]
    if any(not _is_empty(value) for value in sent):
        # JSON can't carry a file; a text value here is a client's mistake.
        raise _Invalid(
            gettext("Send the file itself, as multipart/form-data; this field takes an upload.")
        )
    if len(uploads) > 1:
        raise _Invalid(gettext("Upload one file here."))
    if not uploads:
        if spec.required:
            raise _Invalid(gettext("Choose a file to upload."))
        return None
    upload = uploads[0]
    name = _original_name(upload)
    size = upload.size or 0
    if size > spec.max_size:
        raise _Invalid(
            gettext("%(name)s is %(size)s; files here can be at most %(limit)s.")
            % {"name": name, "size": human_size(size), "limit": human_size(spec.max_size)}
        )
    if size == 0:
        raise _Invalid(gettext("%(name)s is empty.") % {"name": name})
    extension = os.path.splitext(name)[1].lower().lstrip(".")
    if spec.allowed_file_types and extension not in spec.allowed_file_types:
        raise _Invalid(_type_refused(name, extension, spec.allowed_file_types))
    signatures = SIGNATURES.get(extension)
    if signatures:
        upload.seek(0)
        head = upload.read(16)
        upload.seek(0)
        if not head.startswith(signatures):
            kind = TYPE_NAMES.get(extension) or gettext("%(type)s file") % {
                "type": extension.upper()
            }
            raise _Invalid(
                gettext("%(name)s is not a %(kind)s, whatever its name says.")
                % {"name": name, "kind": kind}
            )
    return upload


def _type_refused(name: str, extension: str, allowed_types: Sequence[str]) -> str:
    allowed = ", ".join(f".{ext}" for ext in allowed_types)
    if extension:
        refused = gettext(
            "%(name)s: files of type .%(extension)s are not accepted here; allowed: %(allowed)s."
        )
    else:
        refused = gettext(
            "%(name)s: files without an extension are not accepted here; allowed: %(allowed)s."
        )
    return refused % {"name": name, "extension": extension, "allowed": allowed}


def _original_name(upload: UploadedFile) -> str:
    name = os.path.basename((upload.name or "").replace("\\", "/")).strip()
    return name[:255] or "file"


def _at_most_characters(limit: int) -> str:
    return ngettext(
        "Ensure this value has at most %(limit)d character.",
        "Ensure this value has at most %(limit)d characters.",
        limit,
    ) % {"limit": limit}


def _not_a_choice(text: str) -> str:
    return gettext("Select a valid choice. %(value)s is not one of the available choices.") % {
        "value": _quote(text)
    }


def _quote(text: str) -> str:
    return f"'{text[:100]}'"


def human_size(size: int) -> str:
    """``5242880`` → ``"5 MB"``; exact byte counts below 1 KB."""
    value = float(size)
    for unit in ("bytes", "KB", "MB"):
        if value < 1024 or unit == "MB":
            if unit == "bytes":
                return ngettext("%(size)d byte", "%(size)d bytes", size) % {"size": size}
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# Keyed by the field's type as stored (a str; FormFieldType members compare equal to it).
_CLEANERS: dict[str, Callable[[FieldSpec, Any], object]] = {
    FormFieldType.TEXT: _clean_text,
    FormFieldType.TEXTAREA: _clean_text,
    FormFieldType.EMAIL: _clean_email,
    FormFieldType.URL: _clean_url,
    FormFieldType.PHONE: _clean_phone,
    FormFieldType.NUMBER: _clean_number,
    FormFieldType.DATE: _clean_date,
    FormFieldType.DATETIME: _clean_datetime,
    FormFieldType.SELECT: _clean_choice,
    FormFieldType.RADIO: _clean_choice,
}


# --- Checking a definition ----------------------------------------------------------------
def definition_errors(
    form: CustomForm, rows: Sequence[FormField], *, publishing: bool = False
) -> list[str]:
    """What is wrong with a form's fields taken together, and with its ticket mapping.

    Each field's own rules are ``FormField.clean``; this checks what no single row can:
    unique keys, visibility rules that point at real fields without a loop, the title
    template and the priority mapping. Empty when all is well.
    """
    problems: list[str] = []
    keys = [row.key for row in rows]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        problems.append(
            gettext("Each field needs its own key; repeated: %(keys)s.")
            % {"keys": ", ".join(duplicates)}
        )
    reserved = sorted(set(keys) & set(RESERVED_KEYS))
    if reserved:
        problems.append(
            gettext("These keys are reserved: %(keys)s.") % {"keys": ", ".join(reserved)}
        )
    if publishing and not rows:
        problems.append(gettext("A published form needs at least one field."))
    files = sum(row.field_type == FormFieldType.FILE for row in rows)
    if files > settings.NIXFLOW_MAX_ATTACHMENTS:
        problems.append(
            ngettext(
                "A form can have at most %(limit)d file field "
                "(the attachments of one ticket comment).",
                "A form can have at most %(limit)d file fields "
                "(the attachments of one ticket comment).",
                settings.NIXFLOW_MAX_ATTACHMENTS,
            )
            % {"limit": settings.NIXFLOW_MAX_ATTACHMENTS}
        )
    by_key = {row.key: row for row in rows}
    return (
        problems
        + _visibility_problems(by_key)
        + _mapping_problems(form, by_key)
        + _ticket_field_problems(form, rows)
    )


# Which custom ticket field types each form field type's answers can be copied into:
# the answer as the form checked it is a value the ticket field takes. A number may be
# fractional (a decimal field takes any; a whole-number field drops a fractional answer).
TICKET_FIELD_TYPES: dict[str, frozenset[str]] = {
    FormFieldType.TEXT: frozenset({FieldType.TEXT, FieldType.LONG_TEXT}),
    FormFieldType.TEXTAREA: frozenset({FieldType.LONG_TEXT}),
    FormFieldType.EMAIL: frozenset({FieldType.TEXT, FieldType.LONG_TEXT}),
    FormFieldType.PHONE: frozenset({FieldType.TEXT, FieldType.LONG_TEXT}),
    FormFieldType.URL: frozenset({FieldType.URL, FieldType.TEXT, FieldType.LONG_TEXT}),
    FormFieldType.NUMBER: frozenset({FieldType.NUMBER, FieldType.DECIMAL}),
    FormFieldType.DATE: frozenset({FieldType.DATE}),
    FormFieldType.DATETIME: frozenset({FieldType.TEXT}),
    FormFieldType.SELECT: frozenset({FieldType.CHOICE, FieldType.TEXT}),
    FormFieldType.RADIO: frozenset({FieldType.CHOICE, FieldType.TEXT}),
    FormFieldType.MULTISELECT: frozenset({FieldType.MULTIPLE_CHOICE}),
    FormFieldType.CHECKBOX: frozenset({FieldType.CHECKBOX}),
}


def _ticket_field_problems(form: CustomForm, rows: Sequence[FormField]) -> list[str]:
    """Answers copied into custom ticket fields: a field of the form's workflow, active,
    of a type that takes the answer, its choices covering the question's options, and
    each ticket field filled by one question at most."""
    problems: list[str] = []
    mapped = [row for row in rows if row.ticket_field_id is not None]
    if not mapped:
        return problems
    targets = {
        f.pk: f
        for f in TicketField.objects.prefetch_related("workflows").filter(
            pk__in={row.ticket_field_id for row in mapped}
        )
    }
    workflow_id = (
        form.workflow_id
        or Workflow.objects.filter(is_default=True).values_list("pk", flat=True).first()
    )
    seen: dict[int, str] = {}
    for row in mapped:
        target = targets.get(row.ticket_field_id)  # type: ignore[arg-type]
        if target is None:
            continue  # deleted meanwhile: the foreign key refuses it
        problem = _ticket_field_problem(row, target, workflow_id)
        if problem is None and target.pk in seen:
            problem = gettext("%(field)s is already filled from %(other)s.") % {
                "field": target.label,
                "other": seen[target.pk],
            }
        seen.setdefault(target.pk, row.key)
        if problem is not None:
            problems.append(f"{row.key}: {problem}")
    return problems


def _ticket_field_problem(
    row: FormField, target: TicketField, workflow_id: int | None
) -> str | None:
    if not target.is_active:
        return gettext("the ticket field %(field)s is not active.") % {"field": target.label}
    workflows = {w.pk for w in target.workflows.all()}
    if workflows and workflow_id not in workflows:
        return gettext("the ticket field %(field)s is not a field of this form's workflow.") % {
            "field": target.label
        }
    if target.type not in TICKET_FIELD_TYPES.get(row.field_type, frozenset()):
        return gettext("a %(question)s answer cannot fill the %(type)s field %(field)s.") % {
            "question": FormFieldType(row.field_type).label.lower(),
            "type": FieldType(target.type).label.lower(),
            "field": target.label,
        }
    if target.type in {FieldType.CHOICE, FieldType.MULTIPLE_CHOICE}:
        missing = sorted({c.strip() for c in row.choices or ()} - set(target.choices))
        if missing:
            return gettext("%(field)s has no choice %(options)s.") % {
                "field": target.label,
                "options": ", ".join(repr(m) for m in missing),
            }
    return None


def _visibility_problems(by_key: Mapping[str, FormField]) -> list[str]:
    problems: list[str] = []
    for row in by_key.values():
        if not row.visible_when_field:
            continue
        controller = by_key.get(row.visible_when_field)
        if controller is None:
            problems.append(
                gettext(
                    "%(key)s: it is shown when %(controller)s has some answer, "
                    "but the form has no field with that key."
                )
                % {"key": row.key, "controller": repr(row.visible_when_field)}
            )
        elif controller.field_type == FormFieldType.FILE:
            problems.append(
                gettext("%(key)s: visibility can't depend on a file field.") % {"key": row.key}
            )
        elif controller.field_type in CHOICE_TYPES and (
            row.visible_when_value.strip() not in [c.strip() for c in controller.choices or ()]
        ):
            problems.append(
                gettext("%(key)s: %(value)s is not an option of %(controller)s.")
                % {
                    "key": row.key,
                    "value": repr(row.visible_when_value),
                    "controller": repr(controller.key),
                }
            )
    loop = _visibility_loop(by_key)
    if loop:
        problems.append(
            gettext("Visibility rules go round in a circle: %(loop)s.") % {"loop": " → ".join(loop)}
        )
    return problems


def _mapping_problems(form: CustomForm, by_key: Mapping[str, FormField]) -> list[str]:
    """The title template, description field and priority mapping name real fields."""
    problems = [
        gettext("The title template names %(name)s, which is not a field key.")
        % {"name": f"{{{name}}}"}
        for name in _template_keys(form.title_template)
        if name not in by_key
    ]
    if form.description_field and form.description_field not in by_key:
        problems.append(
            gettext("The description field %(key)s is not a field key.")
            % {"key": repr(form.description_field)}
        )
    if not form.priority_field:
        if form.priority_map:
            problems.append(gettext("A priority map needs a priority field."))
        return problems
    row = by_key.get(form.priority_field)
    if row is None:
        problems.append(
            gettext("The priority field %(key)s is not a field key.")
            % {"key": repr(form.priority_field)}
        )
    elif row.field_type not in {FormFieldType.SELECT, FormFieldType.RADIO}:
        problems.append(gettext("The priority field must be a drop-down or radio field."))
    elif isinstance(form.priority_map, dict):
        options = {c.strip() for c in row.choices or ()}
        unknown = sorted(set(form.priority_map) - options)
        if unknown:
            problems.append(
                gettext("The priority map lists answers that %(key)s does not offer: %(answers)s.")
                % {"key": repr(row.key), "answers": ", ".join(unknown)}
            )
    return problems


def _visibility_loop(by_key: Mapping[str, FormField]) -> list[str]:
    for start in by_key:
        path = [start]
        current = by_key[start].visible_when_field
        while current and current in by_key:
            if current in path:
                return [*path[path.index(current) :], current]
            path.append(current)
            current = by_key[current].visible_when_field
    return []


TEMPLATE_KEY = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def _template_keys(template: str) -> list[str]:
    return TEMPLATE_KEY.findall(template or "")
