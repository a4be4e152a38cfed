"""The validation engine: every field type with good and bad values, conditional
visibility, unknown keys, files, and the checks of a form's definition."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from forms_builder.models import CustomForm, FormField, FormFieldType
from forms_builder.validation import (
    CleanedSubmission,
    Definition,
    FieldSpec,
    clean_submission,
    definition_errors,
)
from tests.forms_builder.conftest import PDF, pdf, png
from tests.forms_builder.factories import PNG, FormFieldFactory, field

T = FormFieldType


def definition(*specs: FieldSpec) -> Definition:
    return Definition(name="Test", slug="test", version=1, fields=specs)


def spec(key: str, kind: str, **values: Any) -> FieldSpec:
    return FieldSpec(key=key, label=key.capitalize(), type=kind, **values)


def clean(one: FieldSpec, value: Any, **files: Any) -> CleanedSubmission:
    data = {} if value is None else {one.key: value}
    return clean_submission(definition(one), data, files)


def error_of(one: FieldSpec, value: Any, **files: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        clean(one, value, **files)
    return caught.value.message_dict[one.key][0]


# --- every type, good and bad -------------------------------------------------------------
GOOD = [
    (spec("a", T.TEXT), "  Ann   Smith ", "Ann Smith"),
    (spec("a", T.TEXT), ["from a form"], "from a form"),
    (spec("a", T.TEXT), 42, "42"),
    (spec("a", T.TEXTAREA), "line one\r\nline two", "line one\nline two"),
    (spec("a", T.EMAIL), " ann@example.com ", "ann@example.com"),
    (spec("a", T.NUMBER), "12", 12),
    (spec("a", T.NUMBER), 2.5, 2.5),
    (spec("a", T.NUMBER, min_value=Decimal(1), max_value=Decimal(10)), "10", 10),
    (spec("a", T.DATE), "2026-03-02", "2026-03-02"),
    (spec("a", T.DATETIME), "2026-03-02T09:30", "2026-03-02T09:30:00+00:00"),
    (spec("a", T.DATETIME), "2026-03-02T09:30+01:00", "2026-03-02T09:30:00+01:00"),
    (spec("a", T.SELECT, choices=("VPN", "Wi-Fi")), "Wi-Fi", "Wi-Fi"),
    (spec("a", T.RADIO, choices=("Yes please", "No")), ["No"], "No"),
    (spec("a", T.MULTISELECT, choices=("A", "B", "C")), ["C", "A", "C"], ["A", "C"]),
    (spec("a", T.MULTISELECT, choices=("A", "B")), "B", ["B"]),
    (spec("a", T.CHECKBOX), "yes", True),
    (spec("a", T.CHECKBOX), False, False),
    (spec("a", T.CHECKBOX), None, False),
    (spec("a", T.URL), "example.com/status", "https://example.com/status"),
    (spec("a", T.URL), "http://intranet.example.com", "http://intranet.example.com"),
    (spec("a", T.PHONE), "+44 (20)  7946-0958", "+44 (20) 7946-0958"),
]


@pytest.mark.parametrize(("field", "value", "expected"), GOOD)
def test_good_values_are_cleaned_to_json(field: FieldSpec, value: Any, expected: Any) -> None:
    assert clean(field, value).data == {"a": expected}


BAD = [
    (spec("a", T.TEXT, required=True), "   ", "This field is required."),
    (spec("a", T.TEXT, min_length=3), "ab", "at least 3 characters (it has 2)"),
    (spec("a", T.TEXT, max_length=3), "abcd", "at most 3 characters (it has 4)"),
    (spec("a", T.TEXT), "x" * 1001, "at most 1000 characters"),
    (spec("a", T.TEXT), ["one", "two"], "Give one answer, not several."),
    (spec("a", T.TEXT), {"nested": 1}, "Enter text."),
    (spec("a", T.TEXT), True, "Enter text."),
    (spec("a", T.TEXT), "nul\x00byte", "Null characters are not allowed."),
    (
        spec("a", T.TEXT, pattern=r"CC-\d{4}", pattern_message="Give a cost centre like CC-1234."),
        "CC-12",
        "Give a cost centre like CC-1234.",
    ),
    (spec("a", T.TEXT, pattern=r"\d+"), "12a", "Enter a value in the expected format."),
    (spec("a", T.TEXTAREA, required=True), "\r\n", "This field is required."),
    (spec("a", T.EMAIL), "ann@", "Enter a valid e-mail address"),
    (spec("a", T.EMAIL), "a" * 250 + "@example.com", "at most 254 characters"),
    (spec("a", T.NUMBER), "twelve", "Enter a number."),
    (spec("a", T.NUMBER), "NaN", "Enter a number."),
    (spec("a", T.NUMBER), True, "Enter a number."),
    (spec("a", T.NUMBER), "1" * 16, "at most 15 digits"),
    (spec("a", T.NUMBER), "1e300", "at most 15 digits"),
    (spec("a", T.NUMBER, min_value=Decimal("0.5")), "0.4", "greater than or equal to 0.5"),
    (spec("a", T.NUMBER, max_value=Decimal(10)), 11, "less than or equal to 10"),
    (spec("a", T.DATE), "02/03/2026", "Enter a valid date as YYYY-MM-DD"),
    (spec("a", T.DATE), "2026-02-30", "Enter a valid date as YYYY-MM-DD"),
    (spec("a", T.DATETIME), "yesterday", "Enter a valid date and time"),
    (spec("a", T.DATETIME), "2026-03-02T25:00", "Enter a valid date and time"),
    (spec("a", T.SELECT, choices=("VPN",)), "Fax", "'Fax' is not one of the available choices"),
    (spec("a", T.SELECT, choices=("VPN",), required=True), "", "This field is required."),
    (spec("a", T.RADIO, choices=("Yes", "No")), "Maybe", "'Maybe' is not one of the available"),
    (spec("a", T.MULTISELECT, choices=("A",)), ["A", "Z"], "'Z' is not one of the available"),
    (spec("a", T.MULTISELECT, choices=("A", "B"), required=True), [], "This field is required."),
    (spec("a", T.MULTISELECT, choices=("A", "B", "C"), max_length=2), ["A", "B", "C"], "at most 2"),
    (spec("a", T.MULTISELECT, choices=("A", "B", "C"), min_length=2), ["A"], "at least 2"),
    (spec("a", T.CHECKBOX, required=True), None, "Tick this box to continue."),
    (spec("a", T.CHECKBOX), "perhaps", "Answer yes or no."),
    (spec("a", T.URL), "not a url", "Enter a valid web address"),
    (spec("a", T.URL), "ftp://example.com/file", "Enter a valid web address"),
    (spec("a", T.PHONE), "call me maybe", "Enter a phone number"),
    (spec("a", T.PHONE), "+1 23", "Enter a phone number"),
    (spec("a", T.FILE, required=True), None, "Choose a file to upload."),
    (spec("a", T.FILE), "c:/fakepath/x.pdf", "Send the file itself, as multipart/form-data"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_bad_values_get_a_message_on_their_field(
    field: FieldSpec, value: Any, message: str
) -> None:
    assert message in error_of(field, value)


def test_empty_optional_answers_are_stored_as_empty() -> None:
    fields = (
        spec("text", T.TEXT),
        spec("many", T.MULTISELECT, choices=("A",)),
        spec("box", T.CHECKBOX),
        spec("file", T.FILE),
    )
    cleaned = clean_submission(definition(*fields), {"text": ""})
    assert cleaned.data == {"text": None, "many": [], "box": False, "file": None}
    assert cleaned.files == {}


def test_all_errors_are_reported_at_once_each_on_its_field() -> None:
    fields = (spec("name", T.TEXT, required=True), spec("email", T.EMAIL), spec("n", T.NUMBER))
    with pytest.raises(ValidationError) as caught:
        clean_submission(definition(*fields), {"email": "nope", "n": "x"})
    assert set(caught.value.message_dict) == {"name", "email", "n"}


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        clean_submission(
            definition(spec("name", T.TEXT)),
            {"name": "Ann", "is_admin": "true"},
            {"upload": [png()]},
        )
    assert caught.value.message_dict == {
        "is_admin": ["This form has no such field."],
        "upload": ["This form has no such field."],
    }


# --- conditional visibility ---------------------------------------------------------------
def outage() -> Definition:
    return definition(
        spec("impact", T.RADIO, choices=("Just me", "Everyone"), required=True),
        spec(
            "affected",
            T.NUMBER,
            required=True,
            visible_when_field="impact",
            visible_when_value="Everyone",
        ),
        spec(
            "since",
            T.DATE,
            required=True,
            visible_when_field="affected",
            visible_when_value="100",
        ),
    )


def test_a_hidden_field_is_neither_required_nor_stored() -> None:
    cleaned = clean_submission(
        outage(), {"impact": "Just me", "affected": "not even a number", "since": "bad"}
    )
    assert cleaned.data == {"impact": "Just me"}


def test_a_shown_conditional_field_is_validated_and_stored() -> None:
    with pytest.raises(ValidationError) as caught:
        clean_submission(outage(), {"impact": "Everyone"})
    assert caught.value.message_dict == {"affected": ["This field is required."]}

    cleaned = clean_submission(outage(), {"impact": "Everyone", "affected": "12"})
    assert cleaned.data == {"impact": "Everyone", "affected": 12}


def test_conditions_chain_through_fields_that_are_themselves_conditional() -> None:
    cleaned = clean_submission(
        outage(), {"impact": "Everyone", "affected": "100", "since": "2026-03-01"}
    )
    assert cleaned.data["since"] == "2026-03-01"
    # The middle field is hidden, so the last is hidden too, whatever was sent for it.
    assert "since" not in clean_submission(outage(), {"impact": "Just me", "since": "x"}).data


def test_an_invalid_controlling_answer_hides_its_dependants_and_reports_itself() -> None:
    with pytest.raises(ValidationError) as caught:
        clean_submission(outage(), {"impact": "Maybe"})
    assert set(caught.value.message_dict) == {"impact"}


@pytest.mark.parametrize(
    ("controller", "answer", "expected", "shown"),
    [
        (spec("c", T.CHECKBOX), "yes", "yes", True),
        (spec("c", T.CHECKBOX), None, "no", True),
        (spec("c", T.CHECKBOX), None, "yes", False),
        (spec("c", T.MULTISELECT, choices=("A", "B")), ["A", "B"], "B", True),
        (spec("c", T.MULTISELECT, choices=("A", "B")), ["A"], "B", False),
        (spec("c", T.NUMBER), "5.0", "5", True),
        (spec("c", T.TEXT), "Laptop ", "laptop", True),
        (spec("c", T.SELECT, choices=("Laptop", "Phone")), "Phone", "Laptop", False),
    ],
)
def test_visibility_rules_compare_answers_by_type(
    controller: FieldSpec, answer: Any, expected: str, shown: bool
) -> None:
    dependant = spec("d", T.TEXT, visible_when_field="c", visible_when_value=expected)
    data = {"d": "shown?"} if answer is None else {"c": answer, "d": "shown?"}
    cleaned = clean_submission(definition(controller, dependant), data)
    assert ("d" in cleaned.data) is shown


def test_a_field_depending_on_a_missing_field_or_on_a_loop_is_hidden() -> None:
    looped = definition(
        spec("a", T.TEXT, required=True, visible_when_field="b", visible_when_value="x"),
        spec("b", T.TEXT, required=True, visible_when_field="a", visible_when_value="x"),
        spec("c", T.TEXT, required=True, visible_when_field="gone", visible_when_value="x"),
    )
    assert clean_submission(looped, {"a": "x", "b": "x", "c": "x"}).data == {}


# --- files --------------------------------------------------------------------------------
SCREENSHOT = spec("shot", T.FILE, allowed_file_types=("png", "pdf"), max_file_size=1000)


def test_a_file_of_an_allowed_type_and_size_is_kept_by_its_name() -> None:
    upload = pdf("C:\\Users\\ann\\receipt.pdf")
    cleaned = clean(SCREENSHOT, None, shot=[upload])
    assert cleaned.data == {"shot": "receipt.pdf"}
    assert cleaned.files == {"shot": upload}


def test_an_oversized_file_is_refused_with_the_limit_in_the_message() -> None:
    message = error_of(SCREENSHOT, None, shot=[pdf(size=1500)])
    assert message == "receipt.pdf is 1.5 KB; files here can be at most 1000 bytes."


def test_the_desk_limit_applies_when_the_field_sets_none(settings: Any) -> None:
    settings.NIXFLOW_MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024
    big = SimpleUploadedFile("huge.log", b"x" * (2 * 1024 * 1024 + 1))
    message = error_of(spec("log", T.FILE), None, log=[big])
    assert message == "huge.log is 2 MB; files here can be at most 2 MB."


def test_a_file_of_another_type_is_refused_naming_the_allowed_types() -> None:
    message = error_of(SCREENSHOT, None, shot=[SimpleUploadedFile("setup.exe", b"MZ...")])
    assert message == "setup.exe: files of type .exe are not accepted here; allowed: .png, .pdf."


def test_a_file_whose_content_contradicts_its_extension_is_refused() -> None:
    fake = SimpleUploadedFile("invoice.pdf", b"<html><script>alert(1)</script>")
    assert error_of(SCREENSHOT, None, shot=[fake]) == (
        "invoice.pdf is not a PDF file, whatever its name says."
    )
    assert error_of(SCREENSHOT, None, shot=[SimpleUploadedFile("a.png", PDF)]) == (
        "a.png is not a PNG image, whatever its name says."
    )


def test_empty_files_and_several_files_for_one_field_are_refused() -> None:
    assert error_of(SCREENSHOT, None, shot=[SimpleUploadedFile("e.png", b"")]) == "e.png is empty."
    assert error_of(SCREENSHOT, None, shot=[png(), png()]) == "Upload one file here."


def test_a_hidden_file_field_ignores_its_upload() -> None:
    fields = definition(
        spec("broken", T.CHECKBOX),
        spec("shot", T.FILE, visible_when_field="broken", visible_when_value="yes"),
    )
    cleaned = clean_submission(fields, {}, {"shot": [SimpleUploadedFile("x.png", PNG)]})
    assert cleaned.files == {}
    assert "shot" not in cleaned.data


# --- snapshots ----------------------------------------------------------------------------
def test_a_definition_survives_its_snapshot_unchanged() -> None:
    original = definition(
        spec("n", T.NUMBER, min_value=Decimal("0.5"), max_value=Decimal(10)),
        spec("f", T.FILE, allowed_file_types=("pdf",), max_file_size=10),
        spec(
            "m", T.MULTISELECT, choices=("A", "B"), visible_when_field="n", visible_when_value="1"
        ),
    )
    assert Definition.from_snapshot(original.snapshot()) == original


# --- checking a definition ----------------------------------------------------------------
def rows(*fields: FormField) -> list[FormField]:
    return list(fields)


def test_definition_errors_catch_what_no_single_field_can() -> None:
    form = CustomForm(
        name="x",
        title_template="Laptop for {who}",
        description_field="missing",
        priority_field="size",
        priority_map={"Huge": "URGENT"},
    )
    problems = definition_errors(
        form,
        rows(
            field("size", T.SELECT, choices=["Small", "Big"]),
            field("size", T.TEXT),
            field("a", visible_when_field="b", visible_when_value="x"),
            field("b", visible_when_field="a", visible_when_value="x"),
            field("c", visible_when_field="nowhere", visible_when_value="x"),
        ),
    )
    text = "\n".join(problems)
    assert "repeated: size" in text
    assert "go round in a circle" in text
    assert "'nowhere' has some answer, but the form has no field with that key" in text
    assert "The title template names {who}, which is not a field key." in text
    assert "The description field 'missing' is not a field key." in text


def test_a_published_form_needs_a_field_and_a_priority_map_needs_real_options() -> None:
    form = CustomForm(name="x", priority_field="size", priority_map={"Huge": "URGENT"})
    size = field("size", T.RADIO, choices=["Small", "Big"])
    assert "needs at least one field" in " ".join(definition_errors(form, [], publishing=True))
    assert definition_errors(form, [size]) == [
        "The priority map lists answers that 'size' does not offer: Huge."
    ]


@pytest.mark.parametrize(
    ("values", "field_name", "message"),
    [
        ({"field_type": T.SELECT, "choices": []}, "choices", "Give at least one option."),
        ({"field_type": T.SELECT, "choices": ["A", "A"]}, "choices", "only once"),
        ({"field_type": T.TEXT, "choices": ["A"]}, "choices", "Only drop-down"),
        ({"field_type": T.TEXT, "pattern": "("}, "pattern", "Not a valid regular expression"),
        ({"field_type": T.DATE, "max_length": 3}, "max_length", "has no length"),
        ({"min_length": 5, "max_length": 2}, "min_length", "above the maximum"),
        ({"field_type": T.NUMBER, "min_value": 5, "max_value": 2}, "min_value", "above the max"),
        ({"field_type": T.TEXT, "min_value": 1}, "max_value", "Only number fields"),
        ({"field_type": T.TEXT, "allowed_file_types": "pdf"}, "allowed_file_types", "Only file"),
        ({"field_type": T.FILE, "allowed_file_types": "p*f"}, "allowed_file_types", "Not file"),
        ({"field_type": T.TEXT, "visible_when_field": "b"}, "visible_when_value", "or neither"),
        ({"key": "submitter_email"}, "key", "reserved"),
    ],
)
def test_a_field_checks_the_rules_of_its_type(
    values: dict[str, Any], field_name: str, message: str
) -> None:
    row = FormFieldFactory(**{"key": "a", "label": "A", **values})
    with pytest.raises(ValidationError) as caught:
        row.full_clean(exclude={"form"}, validate_unique=False, validate_constraints=False)
    assert message in " ".join(caught.value.message_dict[field_name])
