"""Deliveries to a real receiver on loopback: signed, at least once, in order, retried."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.db import transaction
from pytest_django.fixtures import Settings
from standardwebhooks.webhooks import Webhook

from eventlog import outbox
from nixflow.models import User
from tests.helpers import new_ticket
from tests.webhooks.conftest import Receiver, record
from webhooks import services
from webhooks.models import Delivery, Endpoint, Status

pytestmark = pytest.mark.django_db


def test_a_delivery_is_signed_so_the_standard_webhooks_library_verifies_it(
    receiver: Receiver, make_endpoint: Callable[..., tuple[Endpoint, str]], admin: User
) -> None:
    endpoint, secret = make_endpoint(receiver.url)
    event = record("demo.happened", admin, ticket_key="NF-7", answer=42)

    outbox.run_inline()

    (got,) = receiver.received
    # The independent implementation: the standardwebhooks package from PyPI.
    verified = Webhook(secret).verify(got.body, got.headers)
    assert verified["type"] == "demo.happened"
    assert verified["id"] == got.headers["webhook-id"]
    assert got.headers["webhook-id"].startswith("msg_")
    data = verified["data"]
    assert data["id"] == event.pk
    assert data["payload"] == {"answer": 42}
    assert data["ticket_key"] == "NF-7"
    assert data["actor"] == "system"
    assert data["correlation_id"] == str(event.correlation_id)
    delivery = Delivery.objects.get(endpoint=endpoint, event_id=event.pk)
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 1
    assert delivery.last_status_code == 204


def test_a_tampered_body_or_another_secret_fails_verification(
    receiver: Receiver, make_endpoint: Callable[..., tuple[Endpoint, str]], admin: User
) -> None:
    _, secret = make_endpoint(receiver.url)
    record("demo.happened", admin, answer=1)
    outbox.run_inline()
    (got,) = receiver.received
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body.replace(b"1", b"2"), got.headers)
    _, other = make_endpoint(receiver.url, name="Other")
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(got.body, got.headers)


def test_a_receiver_that_fails_then_recovers_gets_every_event_once_in_order_per_ticket(
    receiver: Receiver, make_endpoint: Callable[..., tuple[Endpoint, str]], admin: User
) -> None:
    endpoint, secret = make_endpoint(receiver.url)
    receiver.fail_first(3)
    events = []
    for n in range(6):
        for key in ("NF-1", "NF-2"):
            events.append(record("demo.step", admin, ticket_key=key, step=n))

    outbox.run_inline()

    delivered = Delivery.objects.filter(endpoint=endpoint)
    assert set(delivered.values_list("status", flat=True)) == {Status.DELIVERED}
    # Every request verified; each webhook id delivered once with 2xx (3 failed tries
    # repeated ids, none new); per ticket in the order recorded.
    bodies = [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]
    assert len(receiver.received) == len(events) + 3
    successful = receiver.received[3:]
    ids = [r.headers["webhook-id"] for r in successful]
    assert len(set(ids)) == len(events) == len(ids)
    assert set(receiver.ids[:3]) <= set(ids)
    assert set(ids) == set(delivered.values_list("webhook_id", flat=True))
    for key in ("NF-1", "NF-2"):
        steps = [b["data"]["payload"]["step"] for b in bodies[3:] if b["data"]["ticket_key"] == key]
        assert steps == list(range(6))


def test_a_later_delivery_of_a_ticket_waits_while_an_earlier_one_is_failing(
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
    settings: Settings,
) -> None:
    settings.WEBHOOKS_RETRY_SECONDS = [3600]
    settings.WEBHOOKS_CONCURRENCY = 1  # one at a time, oldest first: the first one fails
    endpoint, _ = make_endpoint(receiver.url)
    receiver.fail_first(1)
    first = record("demo.step", admin, ticket_key="NF-1", step=1)
    second = record("demo.step", admin, ticket_key="NF-1", step=2)
    other = record("demo.step", admin, ticket_key="NF-9", step=1)

    outbox.run_inline()

    rows = {d.event_id: d for d in Delivery.objects.filter(endpoint=endpoint)}
    assert rows[first.pk].status == Status.FAILED
    assert rows[second.pk].status == Status.PENDING  # waits behind the first
    assert rows[other.pk].status == Status.DELIVERED  # another ticket goes ahead
    assert [json.loads(r.body)["data"]["id"] for r in receiver.received] == [first.pk, other.pk]


def test_a_delivery_gives_up_after_the_schedule_and_the_next_of_its_ticket_goes_ahead(
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
    settings: Settings,
) -> None:
    settings.WEBHOOKS_RETRY_SECONDS = [0, 0]
    endpoint, _ = make_endpoint(receiver.url)
    receiver.fail_first(3, status=500)
    first = record("demo.step", admin, ticket_key="NF-1", step=1)
    second = record("demo.step", admin, ticket_key="NF-1", step=2)

    outbox.run_inline()

    rows = {d.event_id: d for d in Delivery.objects.filter(endpoint=endpoint)}
    assert rows[first.pk].status == Status.GAVE_UP
    assert rows[first.pk].attempts == 3
    assert rows[first.pk].last_error == "HTTP 500."
    assert rows[second.pk].status == Status.DELIVERED


def test_ticket_creation_delivers_its_event_through_the_outbox_after_commit(
    receiver: Receiver, make_endpoint: Callable[..., tuple[Endpoint, str]], admin: User
) -> None:
    make_endpoint(receiver.url, event_types=["ticket.created"])
    with transaction.atomic():
        ticket = new_ticket(admin, title="Printer on fire")
        assert receiver.received == []  # nothing leaves before the commit

    outbox.run_inline()

    (got,) = receiver.received
    body = got.json
    assert body["type"] == "ticket.created"
    assert body["data"]["ticket_key"] == ticket.key


def test_a_rolled_back_change_delivers_nothing(
    receiver: Receiver, make_endpoint: Callable[..., tuple[Endpoint, str]], admin: User
) -> None:
    make_endpoint(receiver.url)

    def change_that_fails() -> None:
        with transaction.atomic():
            record("demo.happened", admin)
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        change_that_fails()

    outbox.run_inline()

    assert receiver.received == []
    assert not Delivery.objects.exists()


def test_event_types_families_and_filters_choose_what_an_endpoint_receives(
    receiver: Receiver, make_endpoint: Callable[..., tuple[Endpoint, str]], admin: User
) -> None:
    make_endpoint(receiver.url, event_types=["ticket.*", "demo.exact"], filters={"team_id": [1, 2]})
    record("demo.exact", admin, team_id=1)  # yes
    record("demo.exact", admin, team_id=3)  # filtered out
    record("demo.other", admin, team_id=1)  # not a wanted type
    record("ticket.moved", admin, team_id=2)  # the family
    make_endpoint(receiver.url, name="Nothing", event_types=[])  # only what rules send

    outbox.run_inline()

    assert sorted(r.json["type"] for r in receiver.received) == ["demo.exact", "ticket.moved"]


def test_an_automation_rule_call_goes_to_its_endpoint_only_with_the_event_that_fired_it(
    receiver: Receiver, make_endpoint: Callable[..., tuple[Endpoint, str]], admin: User
) -> None:
    target, secret = make_endpoint(receiver.url, event_types=[])
    make_endpoint(receiver.url, name="Everything", event_types=["*"])
    with transaction.atomic():
        fired = record("ticket.resolved_demo", admin, ticket_key="NF-3")
    receiver.received.clear()
    outbox.run_inline()  # "Everything" gets ticket.resolved_demo
    receiver.received.clear()
    record(
        "automation.webhook_requested",
        admin,
        ticket_key="NF-3",
        endpoint_id=target.pk,
        ticket_id=3,
        rule={"id": 1, "name": "Resolved to CRM", "version": 2},
        event_id=fired.pk,
    )

    outbox.run_inline()

    (got,) = receiver.received
    body = Webhook(secret).verify(got.body, got.headers)
    assert body["type"] == "automation.webhook_requested"
    assert body["data"]["payload"]["rule"]["name"] == "Resolved to CRM"
    assert body["data"]["trigger"]["id"] == fired.pk
    assert body["data"]["trigger"]["type"] == "ticket.resolved_demo"
    assert Delivery.objects.filter(endpoint=target).count() == 1


def test_a_disabled_endpoint_gets_nothing_until_enabled_again(
    receiver: Receiver, make_endpoint: Callable[..., tuple[Endpoint, str]], admin: User
) -> None:
    endpoint, _ = make_endpoint(receiver.url)
    record("demo.before", admin)
    services.endpoint_disable(endpoint=endpoint, actor=admin, reason="Maintenance.")
    record("demo.while_disabled", admin)

    outbox.run_inline()
    assert receiver.received == []

    services.endpoint_enable(endpoint=endpoint, actor=admin)
    outbox.run_inline()
    assert [r.json["type"] for r in receiver.received] == ["demo.before"]
