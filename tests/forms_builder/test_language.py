"""A form page in German: the notes under fields, the conditions, the error summary and
the validation engine's messages are German for a German page (Accept-Language or the
person's own language), and stay English otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import translation

from forms_builder.models import CustomForm, FormFieldType
from forms_builder.validation import Definition, FieldSpec, clean_submission, definition_errors
from tests.factories import UserFactory
from tests.forms_builder.conftest import MakeForm, pdf
from tests.forms_builder.factories import field

pytestmark = pytest.mark.django_db

GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}


def url(form: CustomForm) -> str:
    return reverse("forms_builder:form", args=[form.slug])


def test_a_german_page_shows_the_file_note_and_the_condition_in_german(
    client: Client, public_form: CustomForm
) -> None:
    html = client.get(url(public_form), **GERMAN).content.decode()

    assert "Höchstens 1000 Byte; .png, .pdf." in html
    assert "Beantworten Sie dies nur, wenn „Who is affected?“ „Everyone“ ist." in html
    assert "At most" not in html
    assert "Answer this only if" not in html


def test_a_german_error_summary_and_its_messages_are_german(
    client: Client, public_form: CustomForm, media: Path
) -> None:
    response = client.post(
        url(public_form),
        {
            "submitter_email": "ann",
            "service": "VPN",
            "impact": "Everyone",
            "affected": "lots",
            "details": "",
            "screenshot": pdf("huge.pdf", size=2000),
        },
        **GERMAN,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="#id_submitter_email">Ihre E-Mail-Adresse: ' in html
    assert '<a href="#id_affected">How many people?: Geben Sie eine Zahl ein.</a>' in html
    assert '<a href="#id_details">What happens?: Dieses Feld ist erforderlich.</a>' in html
    assert "huge.pdf ist 2 KB groß; Dateien dürfen hier höchstens 1000 Byte groß sein." in html
    for english in ("Your e-mail address", "Enter a number.", "This field is required."):
        assert english not in html


def test_a_signed_in_person_who_chose_german_gets_german_messages(
    client: Client, make_form: MakeForm
) -> None:
    form = make_form(
        [field("count", FormFieldType.NUMBER, label="Count", required=True, max_value=3)],
        slug="count",
    )
    client.force_login(UserFactory(language="de"))

    response = client.post(url(form), {"count": "7"})

    html = response.content.decode()
    assert "Geben Sie einen Wert kleiner oder gleich 3 ein." in html
    assert "Ensure this value" not in html


def refusal(spec: FieldSpec, value: Any, language: str) -> str:
    definition = Definition(name="Test", slug="test", version=1, fields=(spec,))
    with translation.override(language), pytest.raises(ValidationError) as refused:
        clean_submission(definition, {spec.key: value})
    return refused.value.message_dict[spec.key][0]


PICK = FieldSpec(
    key="pick", label="Pick", type=FormFieldType.MULTISELECT, choices=("a", "b"), max_length=1
)
NAME = FieldSpec(key="name", label="Name", type=FormFieldType.TEXT, min_length=3)


@pytest.mark.parametrize(
    ("spec", "value", "language", "message"),
    [
        (PICK, ["a", "b"], "en", "Choose at most 1 option."),
        (PICK, ["a", "b"], "de", "Wählen Sie höchstens 1 Option."),
        (PICK, ["zz"], "en", "Select a valid choice. 'zz' is not one of the available choices."),
        (
            PICK,
            ["zz"],
            "de",
            "Wählen Sie eine gültige Option. 'zz' ist keine der verfügbaren Optionen.",
        ),
        (NAME, "Al", "en", "Ensure this value has at least 3 characters (it has 2)."),
        (NAME, "Al", "de", "Geben Sie mindestens 3 Zeichen ein (es sind 2)."),
    ],
)
def test_the_engine_speaks_the_active_language_with_counts_filled_in(
    spec: FieldSpec, value: Any, language: str, message: str
) -> None:
    assert refusal(spec, value, language) == message


@pytest.mark.parametrize(
    ("language", "problems"),
    [
        (
            "en",
            [
                "A published form needs at least one field.",
                "The title template names {what}, which is not a field key.",
                "A priority map needs a priority field.",
            ],
        ),
        (
            "de",
            [
                "Ein veröffentlichtes Formular braucht mindestens ein Feld.",
                "Die Titelvorlage nennt {what}, das kein Feldschlüssel ist.",
                "Eine Prioritätszuordnung braucht ein Prioritätsfeld.",
            ],
        ),
    ],
)
def test_a_designer_reads_what_is_wrong_with_a_form_in_their_language(
    language: str, problems: list[str]
) -> None:
    form = CustomForm(name="Broken", title_template="About {what}", priority_map={"a": "URGENT"})

    with translation.override(language):
        assert definition_errors(form, [], publishing=True) == problems
