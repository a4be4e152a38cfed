"""Every ticket change through the core services appends exactly one event, in the same
transaction as the change: both commit, or neither."""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from eventlog import context
from eventlog import services as eventlog_services
from eventlog.models import EventLog
from eventlog.services import event_record
from nixflow import events, services
from nixflow.models import Stage, Ticket, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def new_events(since: int) -> list[EventLog]:
    return list(EventLog.objects.filter(id__gt=since).order_by("id"))


def last_id() -> int:
    return EventLog.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_each_core_service_appends_exactly_one_event_of_its_type(
    requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    colleague = UserFactory()
    svc = services
    calls = [
        ("ticket.created", lambda t: svc.ticket_create(
            requester=requester, title="Disk full", actor=requester)),
        ("ticket.updated", lambda t: svc.ticket_update(
            ticket=t, actor=agent, data={"priority": "HIGH"})),
        ("ticket.transitioned", lambda t: svc.ticket_transition(
            ticket=t, to_stage=stages["Open"], actor=agent)),
        ("ticket.assigned", lambda t: svc.ticket_assign(ticket=t, assignee=agent, actor=agent)),
        ("ticket.commented", lambda t: svc.comment_create(ticket=t, author=agent, body="On it")),
        ("ticket.watched", lambda t: svc.ticket_watch(ticket=t, user=colleague, actor=agent)),
        ("ticket.unwatched", lambda t: svc.ticket_unwatch(
            ticket=t, user=colleague, actor=agent)),
    ]  # fmt: skip
    ticket: Ticket | None = None
    for expected_type, call in calls:
        before = last_id()
        result = call(ticket)
        ticket = result if isinstance(result, Ticket) else ticket
        recorded = new_events(before)
        assert [e.type for e in recorded] == [expected_type]
        event = recorded[0]
        assert (event.subject_app, event.subject_model, event.subject_id) == (
            "nixflow",
            "ticket",
            str(ticket.pk),
        )
        assert event.ticket_key == ticket.key
    assert EventLog.objects.filter(ticket_key=ticket.key).count() == len(calls)


def test_deleting_a_ticket_leaves_one_event_saying_what_was_deleted_by_whom_and_why(
    requester: User, agent: User, admin_user: User
) -> None:
    ticket = services.ticket_create(requester=requester, title="Spam offer", actor=requester)
    services.comment_create(ticket=ticket, author=agent, body="Spam?")
    before = last_id()

    services.ticket_delete(ticket=ticket, actor=admin_user, reason=" Spam ")

    assert not Ticket.objects.filter(pk=ticket.pk).exists()
    [event] = new_events(before)
    assert (event.type, event.ticket_key, event.actor) == ("ticket.deleted", ticket.key, admin_user)
    assert (event.subject_model, event.subject_id) == ("ticket", str(ticket.pk))
    assert event.payload == {
        "title": "Spam offer",
        "requester_id": requester.pk,
        "requester": requester.username,
        "stage": "New",
        "priority": "NORMAL",
        "source": "WEB",
        "created": ticket.created.isoformat(),
        "comments": 1,
        "reason": "Spam",
    }
    # The ticket's own events outlive it, as the audit trail must.
    assert EventLog.objects.filter(ticket_key=ticket.key).count() == 3


def test_only_superusers_and_the_system_delete_tickets(
    requester: User, agent: User, admin_user: User
) -> None:
    admin = UserFactory(role="admin", is_staff=True)
    ticket = services.ticket_create(requester=requester, title="Keep", actor=requester)
    for actor in (requester, agent, admin):
        with pytest.raises(PermissionDenied, match="Only superusers"):
            services.ticket_delete(ticket=ticket, actor=actor)
    assert Ticket.objects.filter(pk=ticket.pk).exists()

    services.ticket_delete(ticket=ticket, actor=None)
    assert EventLog.objects.get(type="ticket.deleted").actor_label == "system"


def test_a_deletion_that_rolls_back_leaves_the_ticket_and_no_event(
    requester: User, admin_user: User
) -> None:
    ticket = services.ticket_create(requester=requester, title="Almost", actor=requester)
    before = last_id()

    @transaction.atomic
    def delete_then_fail() -> None:
        services.ticket_delete(ticket=ticket, actor=admin_user)
        raise RuntimeError("the caller fails after the service returned")

    with pytest.raises(RuntimeError):
        delete_then_fail()

    assert Ticket.objects.filter(pk=ticket.pk).exists()
    assert new_events(before) == []


def test_the_event_carries_actor_changes_and_payload(
    requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    ticket = services.ticket_create(requester=requester, title="Wifi", actor=requester)
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    event = EventLog.objects.filter(ticket_key=ticket.key).order_by("-id").first()

    assert (event.actor, event.actor_label) == (agent, "agent")
    assert event.payload["from_category"] == "NEW"
    assert event.payload["to_category"] == "RESOLVED"
    assert event.payload["changes"]["stage"] == ["New", "Resolved"]
    assert set(event.payload["changes"]) == {"stage", "resolved_at"}


def test_system_changes_are_recorded_with_the_system_as_actor(requester: User) -> None:
    ticket = services.ticket_create(requester=requester, title="Mail", actor=None)
    event = EventLog.objects.get(ticket_key=ticket.key)
    assert (event.actor, event.actor_label) == (None, "system")


def test_a_change_that_rolls_back_leaves_no_event(requester: User) -> None:
    before = last_id()

    @transaction.atomic
    def create_then_fail() -> None:
        services.ticket_create(requester=requester, title="Doomed", actor=requester)
        raise RuntimeError("the caller fails after the service returned")

    with pytest.raises(RuntimeError):
        create_then_fail()
    assert new_events(before) == []
    assert not Ticket.objects.filter(title="Doomed").exists()


def test_a_failed_event_write_rolls_the_change_back(
    requester: User, agent: User, stages: dict[str, Stage], monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket = services.ticket_create(requester=requester, title="Keyboard", actor=requester)
    before = last_id()
    # A type the database's check constraint refuses, with Python's validation out of
    # the way: the INSERT itself fails at the database.
    monkeypatch.setattr(events, "TICKET_TRANSITIONED", "Not A Dotted Type")
    monkeypatch.setattr(eventlog_services, "EVENT_TYPE", re.compile(".*"))

    with pytest.raises(IntegrityError, match="eventlog_type_dotted"):
        services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)

    assert Ticket.objects.get(pk=ticket.pk).stage == stages["New"]
    assert new_events(before) == []
    assert not ticket.history.filter(field="stage", new_value="Open").exists()


def test_event_record_refuses_to_run_outside_a_transaction(
    requester: User, django_db_blocker: object
) -> None:
    # The test itself runs in a transaction; leave it to check the guard.
    connection = transaction.get_connection()
    in_block = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(RuntimeError, match="inside the change's transaction"):
            event_record(type="user.touched", subject=requester, actor=None)
    finally:
        connection.in_atomic_block = in_block


def test_events_of_one_request_share_its_correlation_id(
    client: Client, agent: User, requester: User
) -> None:
    ticket = services.ticket_create(requester=requester, title="Monitor", actor=requester)
    client.force_login(agent)
    request_id = uuid.uuid4()

    with context.correlated(request_id):
        services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
        services.comment_create(ticket=ticket, author=agent, body="Mine")
    shared = EventLog.objects.filter(correlation_id=request_id)
    assert sorted(shared.values_list("type", flat=True)) == ["ticket.assigned", "ticket.commented"]

    response = client.get("/healthz", HTTP_X_REQUEST_ID=str(request_id))
    assert response["X-Request-ID"] == str(request_id)
    response = client.get("/healthz", HTTP_X_REQUEST_ID="not-a-uuid")
    assert uuid.UUID(response["X-Request-ID"]) != request_id


def test_outside_any_request_each_event_gets_its_own_correlation_id(requester: User) -> None:
    first = services.ticket_create(requester=requester, title="A", actor=requester)
    second = services.ticket_create(requester=requester, title="B", actor=requester)
    ids = {EventLog.objects.get(ticket_key=t.key).correlation_id for t in (first, second)}
    assert len(ids) == 2


def test_an_event_type_that_is_not_dotted_is_refused_with_a_clear_message(
    requester: User,
) -> None:
    with pytest.raises(ValidationError, match="is not a dotted event type"):
        event_record(type="Ticket Created", subject=requester, actor=None)
