"""Who a request names: the strings replaced, where, and the events erasure can only count."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import transaction

from eventlog.services import event_record
from nixflow.models import Comment, Role, User
from privacy.models import PrivacyRequest
from privacy.person import Person
from tests.factories import CommentFactory, TicketFactory, UserFactory


@pytest.fixture
def zelda(db: None) -> User:
    return UserFactory(
        username="zquarter",
        email="Zelda.Q@Example.org",
        first_name="Zelda",
        last_name="Quartermain",
        role=Role.REQUESTER,
    )


def test_names_are_replaced_as_whole_words_and_addresses_anywhere(zelda: User) -> None:
    person = Person.find("zelda.q@example.org")

    text = "Zelda Quartermain <zelda.q@EXAMPLE.org> wrote to Zeldas about Annual zquarter items"

    assert person.scrub(text) == "[erased] <[erased]> wrote to Zeldas about Annual zquarter items"
    assert person.scrub(text, local=True) == (
        "[erased] <[erased]> wrote to Zeldas about Annual [erased] items"
    )
    assert person.scrub("Zelda called", local=True) == "[erased] called"
    assert person.scrub("Zelda called") == "Zelda called"


def test_a_first_name_is_left_alone_on_tickets_the_person_never_touched(zelda: User) -> None:
    other = TicketFactory()
    mine = TicketFactory(requester=zelda)
    agent = UserFactory(role=Role.AGENT)
    elsewhere = CommentFactory(ticket=other, author=agent, body="Zelda from sales says hi")
    here = CommentFactory(ticket=mine, author=agent, body="Zelda says hi")

    call_command("erase_person", "zelda.q@example.org", "--yes", stdout=io.StringIO())

    assert Comment.objects.get(pk=elsewhere.pk).body == "Zelda from sales says hi"
    assert Comment.objects.get(pk=here.pk).body == "[erased] says hi"


def test_events_that_hold_the_address_in_plain_are_counted_and_reported(zelda: User) -> None:
    # As an event recorded before personal values were encrypted.
    with transaction.atomic():
        event_record(
            type="legacy.noted", subject=zelda, actor=None, payload={"to": "zelda.q@example.org"}
        )
    out = io.StringIO()

    call_command("erase_person", "zelda.q@example.org", "--yes", stdout=out)

    assert PrivacyRequest.objects.get().legacy_events == 1
    assert "1 events recorded before per-person encryption still name this person" in (
        out.getvalue()
    )


def test_the_admin_change_log_of_the_person_s_account_no_longer_names_it(zelda: User) -> None:
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    boss = UserFactory(role=Role.ADMIN)
    entry = LogEntry.objects.create(
        user=boss,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(zelda.pk),
        object_repr="zquarter",
        action_flag=CHANGE,
        change_message="[]",
    )

    call_command("erase_person", "zelda.q@example.org", "--yes", stdout=io.StringIO())

    assert LogEntry.objects.get(pk=entry.pk).object_repr == "[erased]"
