"""Fixtures of the form builder's tests: forms built through the services, uploads, and
a media folder and throttle cache of each test's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.fixtures import Settings

from forms_builder import services
from forms_builder.models import CustomForm, FormField, FormFieldType, FormStatus
from nixflow.models import Role, User
from tests.factories import UserFactory
from tests.support.browser import browser  # noqa: F401 -- the shared Selenium fixture

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

MakeForm = Callable[..., CustomForm]


@pytest.fixture(autouse=True)
def media(settings: Settings, tmp_path: Path) -> Path:
    """Uploads go to the test's own folder, so a test can tell what was stored."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Settings) -> None:
    # Every factory user hashes a password; PBKDF2 would spend most of the suite on it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


def field(key: str, field_type: str = FormFieldType.TEXT, **values: Any) -> FormField:
    values.setdefault("label", key.replace("_", " ").capitalize())
    return FormField(key=key, field_type=field_type, **values)


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
        rows = fields if fields is not None else [field("name", required=True)]
        for n, row in enumerate(rows):
            row.order = row.order or (n + 1) * 10
        form = services.form_save(form=CustomForm(**values), changed_fields=rows, actor=designer)
        if status != FormStatus.DRAFT:
            form = services.form_set_status(form=form, status=status, actor=designer)
        return form

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
