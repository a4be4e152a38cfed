"""Custom ticket fields: what a desk records about its tickets beyond the built-in ones
("order number", "affected system", "root cause").

A field is defined once, by name, and applies to the workflows it lists (all when it
lists none). Its values live on the ticket, in ``Ticket.custom_fields`` (one JSONB
document keyed by field name, with one GIN index for every field's filter); the reason
for that storage is in docs/decisions.md and docs/custom-fields.md. Only the services
write values, after checking each against its field's type (``nixflow.fields``).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from nixflow.models.workflows import Stage, Workflow

FIELD_NAME_PATTERN = r"[a-z][a-z0-9_]{0,49}"


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    LONG_TEXT = "long_text", _("Long text")
    NUMBER = "number", _("Number")
    DECIMAL = "decimal", _("Decimal")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Single choice")
    MULTIPLE_CHOICE = "multiple_choice", _("Multiple choice")
    CHECKBOX = "checkbox", _("Checkbox")
    USER = "user", _("User")
    URL = "url", _("URL")


class TicketField(models.Model):
    """One custom field of tickets: its name (the key in ``Ticket.custom_fields``, the
    API and ``?field.<name>=``), type, and where it applies."""

    name = models.CharField(
        max_length=50,
        unique=True,
        validators=[
            RegexValidator(
                f"^{FIELD_NAME_PATTERN}$",
                "Lower-case letters, digits and underscores, starting with a letter.",
            )
        ],
        help_text="The field's key in the API and filters, e.g. order_number. "
        "Cannot change once tickets hold values.",
    )
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=FieldType.choices)
    help_text = models.CharField(max_length=300, blank=True)
    choices = ArrayField(
        models.CharField(max_length=100),
        default=list,
        blank=True,
        help_text="The options of a single or multiple choice field, in order.",
    )
    workflows = models.ManyToManyField(
        Workflow,
        blank=True,
        related_name="ticket_fields",
        help_text="The workflows whose tickets have this field; none: every workflow.",
    )
    required_for_stages = models.ManyToManyField(
        Stage,
        blank=True,
        related_name="required_fields",
        help_text="A ticket cannot enter these stages while the field is empty "
        '(e.g. "root cause is required to resolve").',
    )
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = "ticket field"

    def __str__(self) -> str:
        return self.label
