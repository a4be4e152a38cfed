"""Staff-designed forms, their fields, and the submissions that become tickets.

A form's definition (its fields and their rules) changes over time; a submission keeps a
snapshot of the definition it was validated against (``FormSubmission.form_snapshot``),
so relabelling or removing a field later never changes how an earlier submission reads.
The validation engine (``forms_builder.validation``) works on that same serialised
definition, whether it comes from the live fields or from a snapshot.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from nixflow.models import Priority, Ticket, Workflow

# Keys name answers in the API, in CSV headers and in title templates: short, stable,
# lowercase identifiers. The reserved ones are the names of the submit endpoint's own
# parameters (sent next to the answers in the same flat body).
KEY_PATTERN = r"[a-z][a-z0-9_]{0,49}"
RESERVED_KEYS = ("submitter_email", "csrfmiddlewaretoken")
# /forms/login/, /forms/confirm/… and /api/forms/submissions/ share their URL space with
# form slugs.
RESERVED_SLUGS = ("login", "logout", "submissions", "confirm")


# Choices, fields and Meta blocks below are alike in shape to other apps' models and to
# one another (the duplicates report lists them): declarations of different rows and
# values, each tied to its own migrations, so they stay written out.
class FormStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class FormFieldType(models.TextChoices):
    TEXT = "text", "Text"
    TEXTAREA = "textarea", "Text area"
    EMAIL = "email", "E-mail address"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"
    SELECT = "select", "Drop-down list"
    MULTISELECT = "multiselect", "Multiple choice (several answers)"
    RADIO = "radio", "Radio buttons (one answer)"
    CHECKBOX = "checkbox", "Check box"
    FILE = "file", "File upload"
    URL = "url", "Web address"
    PHONE = "phone", "Phone number"


CHOICE_TYPES = frozenset({FormFieldType.SELECT, FormFieldType.MULTISELECT, FormFieldType.RADIO})
LENGTH_TYPES = frozenset(
    {
        FormFieldType.TEXT,
        FormFieldType.TEXTAREA,
        FormFieldType.EMAIL,
        FormFieldType.URL,
        FormFieldType.PHONE,
        FormFieldType.MULTISELECT,  # the number of options chosen
    }
)
PATTERN_TYPES = frozenset({FormFieldType.TEXT, FormFieldType.TEXTAREA, FormFieldType.PHONE})
VALUE_TYPES = frozenset({FormFieldType.NUMBER})


class FormSubmissionStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    CONVERTED = "converted", "Converted to a ticket"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed (no ticket)"
    # An anonymous submission given the address of an existing account: it waits, with
    # no ticket and no account linked, until that account's owner confirms it.
    AWAITING_CONFIRMATION = "awaiting", "Awaiting the submitter's confirmation"


class SubmitterIdentity(models.TextChoices):
    """How the submission's submitter is known; only the first two are verified.

    An anonymous form asks for an e-mail address, and anyone can type anyone's. An
    address nobody has an account for gets a new requester (nothing to borrow); the
    address of an existing account is never trusted until that account's owner proves
    control of the mailbox (see ``forms_builder.services.confirmation``).
    """

    SIGNED_IN = "signed_in", "Verified: signed in"
    CONFIRMED = "confirmed", "Verified: confirmed by e-mail"
    NEW_ADDRESS = "new_address", "New address (a requester was created)"
    UNVERIFIED = "unverified", "Unverified: an existing account's address"
    NOT_RECORDED = "not_recorded", "Not recorded (submitted before the check existed)"


VERIFIED_IDENTITIES = frozenset({SubmitterIdentity.SIGNED_IN, SubmitterIdentity.CONFIRMED})


def _choices_check(field: str, choices: type[models.TextChoices]) -> models.Q:
    return models.Q(**{f"{field}__in": choices.values})


class CustomForm(models.Model):
    """A form that requesters fill in, and how its answers become a ticket.

    ``version`` grows by one each time the definition is saved through
    ``forms_builder.services.form_create`` or ``form_update``; submissions record the
    version they answered.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=80,
        unique=True,
        help_text="The page's address: /forms/<slug>/.",
    )
    description = models.TextField(blank=True, help_text="Shown above the fields.")
    status = models.CharField(max_length=16, choices=FormStatus.choices, default=FormStatus.DRAFT)
    workflow = models.ForeignKey(
        Workflow,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Workflow of the tickets this form opens; empty: the default workflow.",
    )
    default_priority = models.CharField(
        max_length=8, choices=Priority.choices, default=Priority.NORMAL
    )
    title_template = models.CharField(
        max_length=200,
        blank=True,
        help_text="The ticket's title, with answers by key in braces, e.g. "
        '"Laptop for {employee_name}". Empty: the form\'s name.',
    )
    description_field = models.CharField(
        max_length=50,
        blank=True,
        help_text="Key of the field whose answer opens the ticket's description (every "
        "answer is listed after it).",
    )
    priority_field = models.CharField(
        max_length=50,
        blank=True,
        help_text="Key of a drop-down or radio field that sets the ticket's priority.",
    )
    priority_map = models.JSONField(
        default=dict,
        blank=True,
        help_text='Answer of the priority field → priority, e.g. {"Everyone": "URGENT"}. '
        "Answers not listed get the default priority.",
    )
    login_required = models.BooleanField(
        default=True,
        help_text="Only signed-in users may fill it in. Public forms ask for an e-mail "
        "address instead, and open the ticket for that requester.",
    )
    success_message = models.TextField(
        default="Thank you. We have received your request.",
        help_text="Shown after a successful submission.",
    )
    version = models.PositiveIntegerField(default=0, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "form"
        constraints = [
            models.CheckConstraint(
                condition=_choices_check("status", FormStatus), name="forms_form_status_valid"
            ),
            models.CheckConstraint(
                condition=_choices_check("default_priority", Priority),
                name="forms_form_priority_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(slug__in=RESERVED_SLUGS),
                name="forms_form_slug_not_reserved",
                violation_error_message=f"These addresses are taken: {', '.join(RESERVED_SLUGS)}.",
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="forms_form_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if not isinstance(self.priority_map, dict):
            errors["priority_map"] = 'Give an object of answers and priorities: {"answer": "HIGH"}.'
        else:
            wrong = [str(v) for v in self.priority_map.values() if v not in Priority.values]
            if wrong:
                errors["priority_map"] = (
                    f"Not priorities: {', '.join(wrong)}. Use {', '.join(Priority.values)}."
                )
        for name in ("description_field", "priority_field"):
            value = getattr(self, name)
            if value and not re.fullmatch(KEY_PATTERN, value):
                errors[name] = "Give the key of one of the form's fields."
        if errors:
            raise ValidationError(errors)

    @property
    def is_published(self) -> bool:
        return self.status == FormStatus.PUBLISHED


# A field's settings as the designers edit them, in the admin's inline and the API alike
# (each adds the key, type and order in its own layout).
FIELD_SETTINGS = (
    "help_text",
    "placeholder",
    "choices",
    "min_length",
    "max_length",
    "min_value",
    "max_value",
    "pattern",
    "pattern_message",
    "max_file_size",
    "allowed_file_types",
)


class FormField(models.Model):
    """One question of a form; which rules apply depends on its type (see ``clean``)."""

    # Indexed by the (form, key) unique constraint.
    form = models.ForeignKey(
        CustomForm, on_delete=models.CASCADE, related_name="fields", db_index=False
    )
    key = models.CharField(
        max_length=50,
        validators=[
            RegexValidator(
                f"^{KEY_PATTERN}$",
                "Lowercase letters, digits and underscores, starting with a letter.",
            )
        ],
        help_text="Names the answer in the API, the CSV export and the title template.",
    )
    label = models.CharField(max_length=200)
    field_type = models.CharField(
        "type", max_length=16, choices=FormFieldType.choices, default=FormFieldType.TEXT
    )
    required = models.BooleanField(default=False)
    help_text = models.CharField(max_length=500, blank=True)
    placeholder = models.CharField(max_length=200, blank=True)
    choices = models.JSONField(
        default=list,
        blank=True,
        help_text="The options of drop-down, radio and multiple-choice fields.",
    )
    min_length = models.PositiveIntegerField(
        null=True, blank=True, help_text="Characters; for multiple choice, options chosen."
    )
    max_length = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Characters; for multiple choice, options chosen.",
    )
    min_value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    max_value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    pattern = models.CharField(
        max_length=500,
        blank=True,
        help_text="A regular expression the whole answer must match (text and phone).",
    )
    pattern_message = models.CharField(
        max_length=200,
        blank=True,
        help_text='Shown when the pattern does not match, e.g. "Give an asset tag like AB-1234."',
    )
    max_file_size = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Bytes; empty: the desk's attachment limit.",
    )
    allowed_file_types = models.CharField(
        max_length=300,
        blank=True,
        help_text='File extensions, comma-separated, e.g. "pdf, png, jpg"; empty: any.',
    )
    order = models.PositiveIntegerField(default=0, help_text="Fields are shown by this number.")
    visible_when_field = models.CharField(
        max_length=50,
        blank=True,
        help_text="Show this field only when the field with this key …",
    )
    visible_when_value = models.CharField(
        max_length=200,
        blank=True,
        help_text="… has this answer (for a check box: yes or no; for multiple choice: "
        "one of the chosen options).",
    )
    # The ticket's custom field the answer is copied into when a submission becomes a
    # ticket (forms_builder.validation checks that the types fit when the form is saved).
    # SET_NULL: only a field no ticket holds a value for can be deleted, and then the
    # form simply stops copying the answer (it still reads in the ticket's description).
    # No index: a desk's forms have hundreds of fields, read whole when a ticket field
    # is deleted (rare), and an index would only cost the designer's saves.
    ticket_field = models.ForeignKey(
        "nixflow.TicketField",
        on_delete=models.SET_NULL,
        db_index=False,
        null=True,
        blank=True,
        related_name="form_fields",
        help_text="Copy the answer into this custom field of the ticket.",
    )

    class Meta:
        ordering = ["order", "id"]
        verbose_name = "field"
        constraints = [
            # Deferred, so that one save of the designer can swap two fields' keys.
            models.UniqueConstraint(
                fields=["form", "key"],
                name="forms_field_key_unique_in_form",
                deferrable=models.Deferrable.DEFERRED,
                violation_error_message="Another field of this form has this key.",
            ),
            models.CheckConstraint(
                condition=models.Q(key__regex=f"^{KEY_PATTERN}$")
                & ~models.Q(key__in=RESERVED_KEYS),
                name="forms_field_key_valid",
                violation_error_message="Keys are lowercase identifiers; "
                f"{', '.join(RESERVED_KEYS)} are reserved.",
            ),
            models.CheckConstraint(
                condition=_choices_check("field_type", FormFieldType),
                name="forms_field_type_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(min_length__isnull=True)
                | models.Q(max_length__isnull=True)
                | models.Q(min_length__lte=models.F("max_length")),
                name="forms_field_length_range",
                violation_error_message="The minimum length is above the maximum.",
            ),
            models.CheckConstraint(
                condition=models.Q(min_value__isnull=True)
                | models.Q(max_value__isnull=True)
                | models.Q(min_value__lte=models.F("max_value")),
                name="forms_field_value_range",
                violation_error_message="The minimum value is above the maximum.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"

    def clean(self) -> None:
        """The rules of one field on its own; ``validation.definition_errors`` checks the
        fields of a form together (references between them, the ticket mapping)."""
        errors = {**self._type_problems(), **self._file_problems()}
        if self.key in RESERVED_KEYS:
            errors["key"] = f"{self.key!r} is reserved; choose another key."
        if bool(self.visible_when_field) != bool(self.visible_when_value):
            errors["visible_when_value"] = "Give both the field and the answer, or neither."
        if self.visible_when_field and self.visible_when_field == self.key:
            errors["visible_when_field"] = "A field cannot depend on itself."
        if errors:
            raise ValidationError(errors)

    def _type_problems(self) -> dict[str, str]:
        """Rules that only some types have: options, lengths, ranges, patterns."""
        errors: dict[str, str] = {}
        kind = self.field_type
        if kind in CHOICE_TYPES:
            problem = _choices_problem(self.choices)
            if problem:
                errors["choices"] = problem
        elif self.choices:
            errors["choices"] = "Only drop-down, radio and multiple-choice fields have options."
        has_length = self.min_length is not None or self.max_length is not None
        if has_length and kind not in LENGTH_TYPES:
            errors["max_length"] = f"A {self.get_field_type_display().lower()} has no length."
        elif _above(self.min_length, self.max_length):
            errors["min_length"] = "The minimum length is above the maximum."
        if (self.min_value is not None or self.max_value is not None) and kind not in VALUE_TYPES:
            errors["max_value"] = "Only number fields have a minimum and maximum value."
        elif _above(self.min_value, self.max_value):
            errors["min_value"] = "The minimum value is above the maximum."
        return {**errors, **self._pattern_problems()}

    def _pattern_problems(self) -> dict[str, str]:
        if not self.pattern:
            return {}
        if self.field_type not in PATTERN_TYPES:
            return {"pattern": "Only text and phone fields have a pattern."}
        try:
            re.compile(self.pattern)
        except re.error as exc:
            return {"pattern": f"Not a valid regular expression: {exc}."}
        return {}

    def _file_problems(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if (self.max_file_size or self.allowed_file_types) and (
            self.field_type != FormFieldType.FILE
        ):
            errors["allowed_file_types"] = "Only file fields have a size limit and file types."
        if self.max_file_size and self.max_file_size > settings.NIXFLOW_MAX_ATTACHMENT_BYTES:
            errors["max_file_size"] = (
                f"The desk accepts files of up to {settings.NIXFLOW_MAX_ATTACHMENT_BYTES} "
                "bytes; choose that or less."
            )
        if self.allowed_file_types:
            try:
                parse_extensions(self.allowed_file_types)
            except ValueError as exc:
                errors["allowed_file_types"] = str(exc)
        return errors


def _above(low: Any, high: Any) -> bool:
    return low is not None and high is not None and low > high


def _choices_problem(choices: Any) -> str:
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        return "Give the options as a list of texts."
    cleaned = [c.strip() for c in choices]
    if not cleaned:
        return "Give at least one option."
    if any(not c for c in cleaned):
        return "Options cannot be empty."
    if any(len(c) > 200 for c in cleaned):
        return "Options are at most 200 characters."
    if len(set(cleaned)) != len(cleaned):
        return "Each option may appear only once."
    return ""


EXTENSION = re.compile(r"[a-z0-9]{1,10}")


def parse_extensions(text: str) -> tuple[str, ...]:
    """``"PDF, .png jpg"`` → ``("pdf", "png", "jpg")``; ValueError for anything else."""
    items = [item.strip().lower().lstrip(".") for item in re.split(r"[,\s]+", text)]
    items = [item for item in items if item]
    bad = [item for item in items if not EXTENSION.fullmatch(item)]
    if bad:
        raise ValueError(f"Not file extensions: {', '.join(bad)}. Write them like: pdf, png.")
    return tuple(dict.fromkeys(items))


def submission_file_path(instance: FormSubmissionAttachment, filename: str) -> str:
    # A random folder per file, as for ticket attachments: the original name is kept
    # for download, never trusted as a path, and can't collide.
    return f"forms/{timezone.now():%Y/%m}/{uuid.uuid4().hex}/{filename}"


class FormSubmission(models.Model):
    """One filled-in form: the cleaned answers, the definition they answered, and what
    became of them.

    ``data`` holds the answers of the fields that were visible, by key, as JSON values
    (dates as ISO text, numbers as numbers, files by their original name; the files are
    ``attachments``). ``form_snapshot`` is the definition they were validated against.
    """

    # Both keys lead composite indexes (Meta.indexes), which serve their lookups too.
    form = models.ForeignKey(
        CustomForm, on_delete=models.PROTECT, related_name="submissions", db_index=False
    )
    form_version = models.PositiveIntegerField()
    form_snapshot = models.JSONField()
    submitter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="form_submissions",
        db_index=False,
        help_text="The signed-in user, the account that confirmed the submission, or the "
        "requester created for a new e-mail address; never an account that did not confirm.",
    )
    submitter_email = models.EmailField(blank=True)
    identity = models.CharField(
        "submitter identity",
        max_length=16,
        choices=SubmitterIdentity.choices,
        # A database default for the rows the release before this field inserts during a
        # deploy: it does not know the submitter's identity, so it was not recorded.
        db_default=SubmitterIdentity.NOT_RECORDED,
        help_text="How the submitter is known: verified (signed in, or confirmed through the "
        "link mailed to the account's address) or not.",
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=FormSubmissionStatus.choices, default=FormSubmissionStatus.RECEIVED
    )
    status_reason = models.TextField(blank=True)
    ticket = models.OneToOneField(
        Ticket,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="form_submission",
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "submission"
        # The admin's and API's lists: one form's submissions, or one status's, newest
        # first; the CSV export reads one form's in id order.
        indexes = [
            models.Index(fields=["form", "-created"], name="forms_sub_form_created"),
            models.Index(fields=["status", "-created"], name="forms_sub_status_created"),
            models.Index(fields=["form", "form_version"], name="forms_sub_form_version"),
            models.Index(fields=["submitter", "-created"], name="forms_sub_submitter_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=_choices_check("status", FormSubmissionStatus),
                name="forms_submission_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status=FormSubmissionStatus.CONVERTED, ticket__isnull=False)
                | (
                    ~models.Q(status=FormSubmissionStatus.CONVERTED) & models.Q(ticket__isnull=True)
                ),
                name="forms_submission_converted_has_ticket",
                violation_error_message="A submission has a ticket exactly when it is converted.",
            ),
            models.CheckConstraint(
                condition=models.Q(submitter__isnull=False) | ~models.Q(submitter_email=""),
                name="forms_submission_has_submitter",
                violation_error_message="A submission needs a user or an e-mail address.",
            ),
            models.CheckConstraint(
                condition=_choices_check("identity", SubmitterIdentity),
                name="forms_submission_identity_valid",
            ),
            # The fix for anonymous submissions borrowing an account: in the database
            # itself, an unverified submission is linked to no account, and one that
            # waits for confirmation is an unverified one.
            models.CheckConstraint(
                condition=~models.Q(identity=SubmitterIdentity.UNVERIFIED)
                | models.Q(submitter__isnull=True),
                name="forms_submission_unverified_unlinked",
                violation_error_message="An unverified submission is linked to no account.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=FormSubmissionStatus.AWAITING_CONFIRMATION)
                | models.Q(identity=SubmitterIdentity.UNVERIFIED),
                name="forms_submission_awaiting_is_unverified",
                violation_error_message="Only unverified submissions await confirmation.",
            ),
        ]

    def __str__(self) -> str:
        return f"Submission {self.pk} of {self.form_snapshot.get('name', self.form_id)}"

    @property
    def verified(self) -> bool:
        return self.identity in VERIFIED_IDENTITIES


class FormSubmissionAttachment(models.Model):
    submission = models.ForeignKey(
        FormSubmission, on_delete=models.CASCADE, related_name="attachments"
    )
    field_key = models.CharField(max_length=50)
    file = models.FileField(upload_to=submission_file_path, max_length=300)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=255)
    sha256 = models.CharField(
        max_length=64, validators=[RegexValidator("^[0-9a-f]{64}$", "A hex SHA-256 digest.")]
    )

    class Meta:
        ordering = ["id"]
        verbose_name = "submitted file"

    def __str__(self) -> str:
        return self.original_name
