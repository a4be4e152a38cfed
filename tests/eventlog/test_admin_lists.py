"""The event list at any size: keyset pages, estimated or capped counts, and a search
that is one exact lookup on one index."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from eventlog.admin import EventLogAdmin
from eventlog.models import EventLog, OutboxMessage
from eventlog.services import event_record
from nixflow.models import User
from tests.factories import TicketFactory, UserFactory
from tests.list_pages import rows, small_pages, walk

URL = reverse("admin:eventlog_eventlog_changelist")


def test_the_event_list_pages_by_keys_past_the_numbered_pages(
    agent_client: Client, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_pages(monkeypatch, EventLogAdmin, per_page=3, numbered=2)
    for n in range(8):
        event_record(type="test.happened", subject=agent, actor=agent, payload={"n": n})

    seen, offsets = walk(agent_client, URL, type="test.happened")

    assert seen == list(EventLog.objects.filter(type="test.happened").order_by("-id"))
    assert max(offsets) <= 3


def test_the_event_search_finds_by_key_correlation_subject_and_actor(
    agent_client: Client, agent: User
) -> None:
    ticket = TicketFactory()
    other = UserFactory(username="Olga")
    by_ticket = event_record(type="test.ticket", subject=ticket, actor=None, ticket_key=ticket.key)
    by_olga = event_record(type="test.person", subject=other, actor=other)
    noise = event_record(type="test.noise", subject=agent, actor=agent)

    def search(q: str) -> set[EventLog]:
        return set(rows(agent_client.get(URL, {"q": q})))

    assert search(ticket.key.lower()) == {by_ticket}
    assert search(str(by_olga.correlation_id)) == {by_olga}
    assert search(f"nixflow.user:{agent.pk}") == {noise}
    assert search("olga") == {by_olga}
    assert by_ticket in search("system")
    assert search("nobody-like-this") == set()


def test_the_outbox_list_is_found_by_key_or_correlation_id(agent_client: Client) -> None:
    url = reverse("admin:eventlog_outboxmessage_changelist")
    keyed = OutboxMessage.objects.create(task="test.task", key="deliver:7:x")
    traced = OutboxMessage.objects.create(task="test.task", correlation_id=uuid.uuid4())
    OutboxMessage.objects.create(task="test.task")

    def search(q: str) -> list[OutboxMessage]:
        return rows(agent_client.get(url, {"q": q}))

    assert search("deliver:7:x") == [keyed]
    assert search(str(traced.correlation_id)) == [traced]
    assert search("deliver:7") == []
    assert rows(agent_client.get(url))[0] == OutboxMessage.objects.order_by("-id").first()


def test_the_subject_filter_lists_what_events_are_about_and_filters_by_it(
    agent_client: Client, agent: User
) -> None:
    ticket = TicketFactory()
    about_ticket = event_record(type="test.ticket", subject=ticket, actor=agent)
    about_agent = event_record(type="test.person", subject=agent, actor=agent)

    page = agent_client.get(URL, {"subject": "nixflow.ticket"})
    (spec,) = [s for s in page.context["cl"].filter_specs if s.title == "subject"]

    assert {"nixflow.ticket", "nixflow.user"} <= {value for value, _ in spec.lookup_choices}
    assert about_ticket in rows(page)
    assert about_agent not in rows(page)
