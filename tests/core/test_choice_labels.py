"""The core's choices read in the agent's language: a German desk sees "Hoch", not
"High", wherever a priority, channel, stage category, role, availability, assignment
mode or field type is shown (lists, filters, rule pages, reports)."""

from __future__ import annotations

from django.db import models
from django.utils import translation

from nixflow.models import (
    AssignmentMode,
    Availability,
    FieldType,
    Priority,
    Role,
    Source,
    StageCategory,
)

CHOICES: list[type[models.TextChoices]] = [
    Priority,
    Source,
    StageCategory,
    Role,
    Availability,
    AssignmentMode,
    FieldType,
]
# The same word in German.
SAME = {"Normal", "Web", "API", "URL", "Text", "Agent"}


def test_every_label_of_the_core_choices_has_a_german_translation() -> None:
    untranslated = []
    for choices in CHOICES:
        for member in choices:
            with translation.override("en"):
                english = str(member.label)
            with translation.override("de"):
                german = str(member.label)
            if german == english and english not in SAME:
                untranslated.append(f"{choices.__name__}.{member.name}: {english}")
    assert untranslated == []


def test_a_german_page_reads_the_priority_in_german() -> None:
    with translation.override("de"):
        assert [str(label) for _, label in Priority.choices] == [
            "Niedrig",
            "Normal",
            "Hoch",
            "Dringend",
        ]
    with translation.override("en"):
        assert Priority.HIGH.label == "High"
