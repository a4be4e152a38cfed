"""The admin and the API show personal values in plain while the person's key exists,
"[erased]" after, and a requester actor by their current name; a page costs the same
number of queries whatever its size."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from eventlog.models import EventLog
from eventlog.personal import ERASED, person_of, personal, shred
from eventlog.services import event_record
from nixflow.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def record_by(actor: User, text: str) -> EventLog:
    with transaction.atomic():
        return event_record(
            type="test.happened",
            subject=actor,
            actor=actor,
            payload={"said": personal(text, person=person_of(actor))},
        )


def test_the_api_shows_values_and_names_until_the_person_is_erased(
    api_client: APIClient, agent: User
) -> None:
    person = UserFactory(username="dora", email="dora@example.org")
    event = record_by(person, "Dora's words")
    api_client.force_authenticate(agent)

    [shown] = api_client.get("/api/events/", {"type": "test.happened"}).json()["results"]
    assert shown["payload"] == {"said": "Dora's words"}
    assert shown["actor"] == {"id": person.pk, "label": f"person:{person.pk}", "name": "dora"}

    shred("dora@example.org")
    User.objects.filter(pk=person.pk).delete()
    shown = api_client.get(f"/api/events/{event.pk}/").json()
    assert shown["payload"] == {"said": ERASED}
    assert shown["actor"]["name"] == ERASED


def test_the_event_list_costs_the_same_queries_for_any_page_size(
    api_client: APIClient, client: Client, agent: User
) -> None:
    for n in range(30):
        record_by(UserFactory(email=f"p{n}@example.org"), f"words {n}")
    api_client.force_authenticate(agent)
    client.force_login(agent)

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api_client.get(url).status_code == 200
        return len(captured)

    assert queries("/api/events/?page_size=2") == queries("/api/events/?page_size=30")
    listing = client.get("/admin/eventlog/eventlog/")
    assert listing.status_code == 200
    assert f"person:{User.objects.get(email='p29@example.org').pk}".encode() not in listing.content


def test_the_admin_shows_a_requesters_name_and_the_decrypted_payload(
    client: Client, agent: User
) -> None:
    person = UserFactory(username="erin", email="erin@example.org")
    event = record_by(person, "Erin's words")
    client.force_login(agent)

    listing = client.get("/admin/eventlog/eventlog/")
    assert b'<td class="field-actor_shown">erin</td>' in listing.content
    page = client.get(f"/admin/eventlog/eventlog/{event.pk}/change/")
    assert page.status_code == 200
    assert "Erin&#x27;s words" in page.content.decode()
