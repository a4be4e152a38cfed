"""Fixtures of the form builder's tests: forms built through the services (with the
factories of ``tests.forms_builder.factories``), uploads, mail, and a media folder and
throttle cache of each test's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django.fixtures import Settings

from forms_builder import services
from forms_builder.models import CustomForm, FormField, FormFieldType, FormStatus, FormSubmission
from nixflow.models import Role, User
from tests.factories import UserFactory
from tests.forms_builder.factories import PNG, CustomFormFactory, field
from tests.support.browser import browser  # noqa: F401 -- the shared Selenium fixture

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

MakeForm = Callable[..., CustomForm]

# Good answers to ``public_form`` (the outage report).
OUTAGE_ANSWERS = {
    "service": "VPN",
    "impact": "Everyone",
    "affected": "40",
    "details": "No tunnel.\nAt all.",
}


@pytest.fixture(autouse=True)
def media(settings: Settings, tmp_path: Path) -> Path:
    """Uploads go to the test's own folder, so a test can tell what was stored."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture(autouse=True)
def _mail_in_memory(settings: Settings) -> None:
    """Mail goes to ``django.core.mail.outbox``, whatever the environment configures."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Iterator[None]:
    # Anonymous submissions are counted per address in the cache; every test client
    # comes from 127.0.0.1.
    cache.clear()
    yield
    cache.clear()


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def png(name: str = "screen.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def pdf(name: str = "receipt.pdf", size: int | None = None) -> SimpleUploadedFile:
    content = PDF if size is None else PDF + b"0" * (size - len(PDF))
    return SimpleUploadedFile(name, content, content_type="application/pdf")


@pytest.fixture
def designer(db: None) -> User:
    return UserFactory(username="designer", role=Role.AGENT)


@pytest.fixture
def make_form(designer: User) -> MakeForm:
    """A form built and (unless ``status`` says otherwise) published through the
    services, as the designer would: ``make_form([field("name"), ...], name=...)``."""

    def make(
        fields: list[FormField] | None = None,
        *,
        status: FormStatus = FormStatus.PUBLISHED,
        **values: Any,
    ) -> CustomForm:
        values.setdefault("name", "Request a laptop")
        values.setdefault("slug", values["name"].lower().replace(" ", "-"))
        values.setdefault("login_required", True)
        return CustomFormFactory(fields=fields, status=status, actor=designer, **values)

    return make


@pytest.fixture
def public_form(make_form: MakeForm) -> CustomForm:
    """A public outage report: a choice that sets the priority, a conditional number, a
    required description and a screenshot (png or pdf, at most 1000 bytes)."""
    return make_form(
        [
            field(
                "service",
                FormFieldType.SELECT,
                label="What is down?",
                required=True,
                choices=["E-mail", "VPN"],
            ),
            field(
                "impact",
                FormFieldType.RADIO,
                label="Who is affected?",
                required=True,
                choices=["Just me", "Everyone"],
            ),
            field(
                "affected",
                FormFieldType.NUMBER,
                label="How many people?",
                required=True,
                min_value=1,
                visible_when_field="impact",
                visible_when_value="Everyone",
            ),
            field("details", FormFieldType.TEXTAREA, label="What happens?", required=True),
            field(
                "screenshot",
                FormFieldType.FILE,
                label="Screenshot",
                allowed_file_types="png, pdf",
                max_file_size=1000,
            ),
        ],
        name="Report an outage",
        slug="report-an-outage",
        login_required=False,
        title_template="Outage: {service} ({impact})",
        description_field="details",
        priority_field="impact",
        priority_map={"Everyone": "URGENT"},
        default_priority="NORMAL",
    )


@pytest.fixture
def staff(client: Client, agent: User) -> Client:
    """The test client signed in as an agent (who designs forms in the admin)."""
    client.force_login(agent)
    return client


def designer_post(
    form_values: dict[str, Any], fields: list[dict[str, Any]], initial: int = 0
) -> dict[str, Any]:
    """The POST of the admin's form designer: the form's settings and its inline fields
    (``initial`` of them saved rows, which carry their ``id``)."""
    data: dict[str, Any] = {
        "name": "",
        "slug": "",
        "description": "",
        "workflow": "",
        "default_priority": "NORMAL",
        "title_template": "",
        "description_field": "",
        "priority_field": "",
        "priority_map": "{}",
        "success_message": "Thanks.",
        **form_values,
        "fields-TOTAL_FORMS": str(len(fields)),
        "fields-INITIAL_FORMS": str(initial),
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "1000",
    }
    for n, values in enumerate(fields):
        row = {"order": (n + 1) * 10, "field_type": "text", "label": values["key"], **values}
        for name, value in row.items():
            if value is True:
                data[f"fields-{n}-{name}"] = "on"
            elif value is not False:
                data[f"fields-{n}-{name}"] = value
    return data


def submit(
    form: CustomForm,
    *,
    data: dict[str, Any] | None = None,
    submitter: User | None = None,
    submitter_email: str = "ann@example.com",
    **changes: Any,
) -> FormSubmission:
    """A submission through the service: ``data`` (default ``OUTAGE_ANSWERS``) with
    ``changes`` to single answers (None drops one), anonymous unless ``submitter``.
    ``files=`` and the service's other arguments pass through."""
    passed = {k: changes.pop(k) for k in ("files", "ip_address", "site") if k in changes}
    answers = {**(OUTAGE_ANSWERS if data is None else data), **changes}
    return services.submission_create(
        form=form,
        data={key: value for key, value in answers.items() if value is not None},
        submitter=submitter,
        submitter_email=submitter_email,
        **passed,
    )
