"""Every table that can hold personal data is covered by a source or said not to."""

from __future__ import annotations

from django.apps import apps
from django.contrib.postgres.fields import ArrayField
from django.db import models

from privacy.registry import NOT_PERSONAL, covered_models, sources

TEXTUAL = (
    models.CharField,
    models.TextField,
    models.JSONField,
    models.FileField,
    models.GenericIPAddressField,
    models.BinaryField,
    ArrayField,
)


def may_hold_personal_data(model: type[models.Model]) -> bool:
    return (
        any(isinstance(field, TEXTUAL) for field in model._meta.concrete_fields)
        and not model._meta.proxy
    )


def test_every_model_with_text_files_or_addresses_has_a_source_or_a_reason() -> None:
    covered = covered_models()
    missing = sorted(
        model._meta.label_lower
        for model in apps.get_models()
        if may_hold_personal_data(model)
        and model not in covered
        and model._meta.label_lower not in NOT_PERSONAL
    )
    assert missing == []


def test_the_reasons_name_models_that_exist_and_no_covered_one() -> None:
    labels = {model._meta.label_lower for model in apps.get_models()}
    covered = {model._meta.label_lower for model in covered_models()}
    assert set(NOT_PERSONAL) - labels == set()
    assert set(NOT_PERSONAL) & covered == set()


def test_sources_have_unique_names_and_descriptions() -> None:
    names = [source.name for source in sources()]
    assert len(names) == len(set(names))
    assert all(source.description for source in sources())
