"""The webhooks admin: admins only; the secret shown once; actions; the delivery log."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from eventlog import outbox
from eventlog.models import EventLog
from nixflow.models import User
from tests.webhooks.conftest import Receiver, record
from webhooks.models import Delivery, Endpoint, Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client, admin: User) -> Client:
    client.force_login(admin)
    return client


def test_an_admin_adds_an_endpoint_and_is_shown_its_secret_once(
    admin_client: Client, receiver: Receiver
) -> None:
    response = admin_client.post(
        reverse("admin:webhooks_endpoint_add"),
        {
            "name": "Chat",
            "url": receiver.url,
            "event_types": '["ticket.created"]',
            "filters": "{}",
            "is_active": "on",
        },
        follow=True,
    )

    assert response.status_code == 200
    page = response.content.decode()
    secret = page.split("<code>")[1].split("</code>")[0]
    assert secret.startswith("whsec_")
    endpoint = Endpoint.objects.get(name="Chat")
    assert EventLog.objects.filter(type="webhook.created", subject_id=str(endpoint.pk)).exists()
    again = admin_client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    assert secret not in again.content.decode()


def test_a_private_url_is_refused_on_the_form(admin_client: Client, settings: object) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False  # type: ignore[attr-defined]
    response = admin_client.post(
        reverse("admin:webhooks_endpoint_add"),
        {"name": "Meta", "url": "http://169.254.169.254/", "event_types": "[]", "filters": "{}"},
    )
    assert response.status_code == 200
    assert "169.254.169.254 is not a public address" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_agents_do_not_see_webhooks(client: Client, agent: User) -> None:
    client.force_login(agent)
    assert client.get(reverse("admin:webhooks_endpoint_changelist")).status_code == 403
    assert client.get(reverse("admin:webhooks_delivery_changelist")).status_code == 403


def test_the_endpoint_page_shows_its_latest_deliveries_and_the_log_sends_one_again(
    admin_client: Client,
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
) -> None:
    endpoint, _ = make_endpoint(receiver.url)
    receiver.reply = lambda n: (200, {}, b"thanks, got it")
    record("demo.happened", admin, ticket_key="NF-5")
    outbox.run_inline()
    delivery = Delivery.objects.get(endpoint=endpoint)

    page = admin_client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    assert delivery.webhook_id in page.content.decode()
    assert "thanks, got it" in page.content.decode()
    log = admin_client.get(
        reverse("admin:webhooks_delivery_changelist") + f"?endpoint__id__exact={endpoint.pk}"
    )
    assert delivery.webhook_id in log.content.decode()

    admin_client.post(
        reverse("admin:webhooks_delivery_changelist"),
        {"action": "redeliver", "_selected_action": [delivery.pk]},
    )
    outbox.run_inline()
    assert receiver.ids == [delivery.webhook_id, delivery.webhook_id]


def test_the_actions_rotate_disable_enable_and_test(
    admin_client: Client,
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
) -> None:
    endpoint, old = make_endpoint(receiver.url)
    changelist = reverse("admin:webhooks_endpoint_changelist")

    rotated = admin_client.post(
        changelist, {"action": "rotate_secret", "_selected_action": [endpoint.pk]}, follow=True
    ).content.decode()
    new = rotated.split("<code>")[1].split("</code>")[0]
    assert new.startswith("whsec_")
    assert new != old

    admin_client.post(changelist, {"action": "disable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    admin_client.post(changelist, {"action": "enable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.is_active is True

    admin_client.post(changelist, {"action": "send_test", "_selected_action": [endpoint.pk]})
    outbox.run_inline()
    (got,) = receiver.received
    assert Webhook(new).verify(got.body, got.headers)["type"] == "webhook.tested"
    assert Delivery.objects.get(endpoint=endpoint).status == Status.DELIVERED
