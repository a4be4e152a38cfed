"""The demo forms: published, with submissions (tickets, or awaiting confirmation),
created once."""

from __future__ import annotations

import random

import pytest
from django.apps import apps

from forms_builder.demo import seed_forms
from forms_builder.models import CustomForm, FormStatus, FormSubmission, FormSubmissionStatus
from nixflow.models import Role, Source, Ticket
from tests.factories import UserFactory

# Seeded pseudo-randomness makes the demo repeatable; nothing here is a secret.
# ruff: noqa: S311

pytestmark = pytest.mark.django_db


def test_seed_forms_creates_published_forms_with_converted_submissions_once() -> None:
    requesters = [
        UserFactory(username=f"r{n}", first_name="Ann", last_name=f"Lee {n}", role=Role.REQUESTER)
        for n in range(4)
    ]

    created = seed_forms(rng=random.Random(7), requesters=requesters)

    assert set(created) == {"Request a laptop", "Report an outage", "Request access to a system"}
    assert all(3 <= n <= 5 for n in created.values())
    assert set(CustomForm.objects.values_list("status", flat=True)) == {FormStatus.PUBLISHED}
    # Signed-in submissions became tickets; anonymous ones, made with the demo
    # requesters' own addresses, wait for those requesters' confirmation, unlinked.
    converted = FormSubmission.objects.filter(status=FormSubmissionStatus.CONVERTED)
    awaiting = FormSubmission.objects.filter(status=FormSubmissionStatus.AWAITING_CONFIRMATION)
    assert converted.count() + awaiting.count() == sum(created.values())
    assert awaiting.exists()
    assert not awaiting.filter(submitter__isnull=False).exists()
    assert Ticket.objects.filter(source=Source.FORM).count() == converted.count()
    assert {t.requester for t in Ticket.objects.all()} <= set(requesters)

    again = apps.get_app_config("forms_builder").seed_demo(
        rng=random.Random(7), requesters=requesters
    )
    assert again == "Demo forms created: none (already there)"
    assert FormSubmission.objects.count() == sum(created.values())
