"""``/api/webhooks/`` as admins, agents, requesters and strangers use it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from eventlog import outbox
from eventlog.models import EventLog
from nixflow.models import User
from tests.helpers import as_user
from tests.webhooks.conftest import Receiver, record
from webhooks import crypto
from webhooks.models import Delivery, Endpoint, Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin: User) -> APIClient:
    return as_user(APIClient(), admin)


def test_an_admin_creates_an_endpoint_and_sees_its_secret_only_in_that_answer(
    api: APIClient, receiver: Receiver
) -> None:
    response = api.post(
        "/api/webhooks/",
        {"name": "CRM", "url": receiver.url, "event_types": ["ticket.*"]},
        format="json",
    )

    assert response.status_code == 201, response.content
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    endpoint = Endpoint.objects.get(pk=response.json()["id"])
    assert secret not in endpoint.secret_encrypted  # stored encrypted
    assert crypto.decrypt(endpoint.secret_encrypted) == secret
    shown = api.get(f"/api/webhooks/{endpoint.pk}/").json()
    assert "secret" not in shown
    assert shown["event_types"] == ["ticket.*"]
    created = EventLog.objects.get(type="webhook.created")
    assert created.payload["origin"] == receiver.url.rsplit("/", 1)[0]
    assert secret not in str(created.payload)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "Use an http:// or https:// URL."),
        ("https://user:pw@example.com/x", "Put no user name or password in the URL"),
        ("http://10.1.2.3/x", "10.1.2.3 is not a public address"),
        ("http://[::ffff:127.0.0.1]/x", "is not a public address"),
        ("http://169.254.169.254/latest", "169.254.169.254 is not a public address"),
        ("http://localhost:8000/x", "localhost is not a public address"),
    ],
)
def test_urls_no_endpoint_may_have_are_refused_with_the_reason(
    api: APIClient, settings: object, url: str, message: str
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False  # type: ignore[attr-defined]
    response = api.post("/api/webhooks/", {"name": "X", "url": url}, format="json")
    assert response.status_code == 400
    assert message in response.json()["url"][0]


def test_bad_event_types_and_filters_are_field_errors(api: APIClient, receiver: Receiver) -> None:
    response = api.post(
        "/api/webhooks/",
        {"name": "X", "url": receiver.url, "event_types": ["Ticket Created"]},
        format="json",
    )
    assert response.status_code == 400
    assert "is not an event type" in response.json()["event_types"][0]
    response = api.post(
        "/api/webhooks/",
        {"name": "X", "url": receiver.url, "filters": {"team_id": {"nested": 1}}},
        format="json",
    )
    assert response.status_code == 400
    assert "compare with a string" in response.json()["filters"][0]


def test_agents_and_requesters_get_403_and_strangers_401(
    agent_api: APIClient, requester_api: APIClient, api_client: APIClient
) -> None:
    for client in (agent_api, requester_api):
        response = client.get("/api/webhooks/")
        assert response.status_code == 403
        assert response.json() == {"detail": "Only admins can manage webhooks."}
        assert client.post("/api/webhooks/", {}, format="json").status_code == 403
    assert api_client.get("/api/webhooks/").status_code == 401


def test_an_update_changes_fields_and_records_them_without_the_url(
    api: APIClient, make_endpoint: Callable[..., tuple[Endpoint, str]], receiver: Receiver
) -> None:
    endpoint, _ = make_endpoint(receiver.url)
    response = api.patch(
        f"/api/webhooks/{endpoint.pk}/",
        {"name": "CRM 2", "url": receiver.url + "?token=abc"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["name"] == "CRM 2"
    updated = EventLog.objects.get(type="webhook.updated")
    assert updated.payload["fields"] == ["name", "url"]
    assert "url" not in updated.payload["changes"]  # a URL may hold a token


def test_disabling_and_enabling_through_the_api(
    api: APIClient, make_endpoint: Callable[..., tuple[Endpoint, str]], receiver: Receiver
) -> None:
    endpoint, _ = make_endpoint(receiver.url)
    off = api.patch(f"/api/webhooks/{endpoint.pk}/", {"is_active": False}, format="json").json()
    assert off["is_active"] is False
    assert off["disabled_reason"] == "Disabled by an admin."
    disabled = EventLog.objects.get(type="webhook.disabled")
    assert disabled.payload["automatic"] is False
    on = api.patch(f"/api/webhooks/{endpoint.pk}/", {"is_active": True}, format="json").json()
    assert on["is_active"] is True
    assert on["disabled_reason"] == ""


def test_rotating_the_secret_shows_the_new_one_once_and_signs_with_it(
    api: APIClient,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    receiver: Receiver,
    admin: User,
) -> None:
    endpoint, old = make_endpoint(receiver.url)
    response = api.post(f"/api/webhooks/{endpoint.pk}/rotate-secret/")
    new = response.json()["secret"]
    assert new != old
    record("demo.happened", admin)
    outbox.run_inline()
    (got,) = receiver.received
    Webhook(new).verify(got.body, got.headers)


def test_a_test_event_reaches_only_that_endpoint(
    api: APIClient, make_endpoint: Callable[..., tuple[Endpoint, str]], receiver: Receiver
) -> None:
    endpoint, secret = make_endpoint(receiver.url, event_types=[])
    make_endpoint(receiver.url, name="Everything")

    response = api.post(f"/api/webhooks/{endpoint.pk}/test/")

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    outbox.run_inline()
    (got,) = receiver.received
    assert Webhook(secret).verify(got.body, got.headers)["type"] == "webhook.tested"
    assert got.headers["webhook-id"] == response.json()["webhook_id"]


def test_a_test_of_a_disabled_endpoint_is_a_conflict(
    api: APIClient, make_endpoint: Callable[..., tuple[Endpoint, str]], receiver: Receiver
) -> None:
    endpoint, _ = make_endpoint(receiver.url)
    api.patch(f"/api/webhooks/{endpoint.pk}/", {"is_active": False}, format="json")
    response = api.post(f"/api/webhooks/{endpoint.pk}/test/")
    assert response.status_code == 409
    assert "enable it" in response.json()["detail"]


def test_redelivery_sends_the_same_webhook_id_again(
    api: APIClient,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    receiver: Receiver,
    admin: User,
) -> None:
    endpoint, _ = make_endpoint(receiver.url)
    record("demo.happened", admin)
    outbox.run_inline()
    delivery = Delivery.objects.get(endpoint=endpoint)

    response = api.post(f"/api/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver/")

    assert response.status_code == 202
    outbox.run_inline()
    assert receiver.ids == [delivery.webhook_id, delivery.webhook_id]
    assert Delivery.objects.count() == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert EventLog.objects.filter(type="webhook.redelivered").count() == 1


def test_redelivering_another_endpoints_delivery_is_404(
    api: APIClient,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    receiver: Receiver,
    admin: User,
) -> None:
    first, _ = make_endpoint(receiver.url)
    second, _ = make_endpoint(receiver.url, name="Other")
    record("demo.happened", admin)
    delivery = Delivery.objects.get(endpoint=first)
    response = api.post(f"/api/webhooks/{second.pk}/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 404


def test_the_delivery_log_lists_newest_first_in_queries_independent_of_page_size(
    api: APIClient,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    receiver: Receiver,
    admin: User,
) -> None:
    endpoint, _ = make_endpoint(receiver.url)
    receiver.reply = lambda n: (200, {}, b"x" * 5000)
    for n in range(12):
        record("demo.step", admin, ticket_key=f"NF-{n}", step=n)
    outbox.run_inline()

    def fetch(size: int) -> tuple[int, list[dict[str, Any]]]:
        with CaptureQueriesContext(connection) as queries:
            body = api.get(f"/api/webhooks/{endpoint.pk}/deliveries/?page_size={size}").json()
        return len(queries), body["results"]

    small, _ = fetch(2)
    large, all_rows = fetch(12)
    assert small == large
    assert [r["id"] for r in all_rows] == sorted((r["id"] for r in all_rows), reverse=True)
    assert all_rows[0]["status"] == "delivered"
    assert len(str(all_rows[0]["response_excerpt"])) == 1024  # bounded


def test_deleting_an_endpoint_records_it_and_stops_its_deliveries(
    api: APIClient,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    receiver: Receiver,
    admin: User,
) -> None:
    endpoint, _ = make_endpoint(receiver.url)
    assert api.delete(f"/api/webhooks/{endpoint.pk}/").status_code == 204
    record("demo.happened", admin)
    outbox.run_inline()
    assert receiver.received == []
    assert EventLog.objects.filter(type="webhook.deleted").count() == 1


def test_rotating_the_desks_keys_keeps_every_secret_readable(
    make_endpoint: Callable[..., tuple[Endpoint, str]], receiver: Receiver, settings: Any
) -> None:
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    endpoint, secret = make_endpoint(receiver.url)
    old_keys = list(settings.NIXFLOW_SECRET_KEYS)
    settings.NIXFLOW_SECRET_KEYS = [Fernet.generate_key().decode(), *old_keys]
    call_command("rotate_webhook_secrets")
    settings.NIXFLOW_SECRET_KEYS = settings.NIXFLOW_SECRET_KEYS[:1]  # the old key removed

    endpoint.refresh_from_db()
    assert crypto.decrypt(endpoint.secret_encrypted) == secret
