"""Where webhooks may go: private targets refused, redirects not followed, time and size
bounded; endpoints disabled after sustained failure."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from eventlog import outbox
from eventlog.models import EventLog
from nixflow.models import User
from notifications.models import Notification
from tests.factories import AdminFactory, AgentFactory
from tests.webhooks.conftest import Receiver, record
from webhooks import services, targets
from webhooks.models import Delivery, Endpoint, Status

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("172.16.3.4", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("169.254.169.254", False),  # link-local: cloud metadata
        ("0.0.0.0", False),  # noqa: S104 -- an address checked, not bound
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),  # documentation
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::a00:5", False),  # NAT64 of 10.0.0.5
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
    ],
)
def test_only_global_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert targets.is_public(ipaddress.ip_address(address)) is public


def test_a_url_naming_a_private_address_is_refused_at_save_time(settings: Settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    for url in ("http://127.0.0.1/x", "https://[fd00::1]/x", "http://[::ffff:10.0.0.1]:81/"):
        with pytest.raises(ValidationError, match="not a public address"):
            targets.validate_url(url)
    assert targets.validate_url("https://hooks.example.com/x").host == "hooks.example.com"


def _resolving(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> None:
    """DNS would leave the machine: the name resolves to ``address`` here."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(targets.socket, "getaddrinfo", getaddrinfo)


def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    _resolving(monkeypatch, "hooks.example.com", "127.0.0.1")
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    endpoint, _ = make_endpoint(f"http://hooks.example.com:{port}/hook")  # a name: saved
    record("demo.happened", admin)

    outbox.run_inline()

    assert receiver.received == []  # never connected
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Status.GAVE_UP
    assert delivery.last_error == (
        "hooks.example.com resolves to 127.0.0.1, which is not a public address."
    )


def test_the_connection_goes_to_the_address_checked_with_the_name_as_host(
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    _resolving(monkeypatch, "hooks.example.com", "127.0.0.1")
    make_endpoint(f"http://hooks.example.com:{port}/hook?x=1")
    record("demo.happened", admin)

    outbox.run_inline()

    (got,) = receiver.received
    assert got.headers["host"] == f"hooks.example.com:{port}"


def test_a_redirect_is_a_failure_and_is_not_followed(
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
    settings: Settings,
) -> None:
    settings.WEBHOOKS_RETRY_SECONDS = [3600]
    receiver.reply = lambda n: (302, {"location": "http://169.254.169.254/latest"}, b"")
    endpoint, _ = make_endpoint(receiver.url)
    record("demo.happened", admin)

    outbox.run_inline()

    assert len(receiver.received) == 1
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Status.FAILED
    assert delivery.last_status_code == 302
    assert delivery.last_error == "HTTP 302: redirects are not followed."


def test_a_receiver_slower_than_the_timeout_fails_the_attempt(
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
    settings: Settings,
) -> None:
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    settings.WEBHOOKS_RETRY_SECONDS = [3600]
    receiver.delay = 1.5
    endpoint, _ = make_endpoint(receiver.url)
    record("demo.happened", admin)

    outbox.run_inline()

    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Status.FAILED
    assert delivery.last_error.startswith("Timed out after 0.3 s")


def test_only_the_first_bytes_of_a_large_answer_are_read_and_kept(
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
    settings: Settings,
) -> None:
    settings.WEBHOOKS_RESPONSE_MAX_BYTES = 100
    receiver.reply = lambda n: (200, {}, "é".encode() * 500_000)
    endpoint, _ = make_endpoint(receiver.url)
    record("demo.happened", admin)

    outbox.run_inline()

    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Status.DELIVERED
    assert delivery.response_excerpt == "é" * 50


def test_an_endpoint_failing_long_enough_is_disabled_with_its_reason(
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
    settings: Settings,
) -> None:
    settings.WEBHOOKS_RETRY_SECONDS = [0, 0, 0, 0]
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOKS_DISABLE_AFTER_SECONDS = 0
    receiver.reply = lambda n: (500, {}, b"")
    endpoint, _ = make_endpoint(receiver.url)
    record("demo.happened", admin)

    outbox.run_inline()

    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    assert endpoint.disabled_reason.startswith("Every attempt failed for 0.0 h (3 in a row).")
    assert endpoint.disabled_reason.endswith("Last error: HTTP 500.")
    assert len(receiver.received) == 3  # nothing more once disabled
    assert Delivery.objects.get(endpoint=endpoint).status == Status.FAILED  # waits
    disabled = EventLog.objects.get(type="webhook.disabled")
    assert disabled.payload["automatic"] is True
    assert disabled.actor_id is None

    # The admins hear of it (the notifications app, after the event committed); agents
    # do not.
    outbox.run_inline()
    notice = Notification.objects.get()
    assert notice.recipient == admin
    assert notice.ticket is None
    assert notice.kind == "webhook_disabled"
    assert notice.text == "Webhook endpoint CRM was disabled after failing for too long"


def test_opening_the_notice_goes_to_the_endpoints_admin_page(
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
    settings: Settings,
    client: Client,
) -> None:
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 1
    settings.WEBHOOKS_DISABLE_AFTER_SECONDS = 0
    receiver.reply = lambda n: (500, {}, b"")
    endpoint, _ = make_endpoint(receiver.url)
    AgentFactory.create()
    record("demo.happened", admin)
    outbox.run_inline()
    notice = Notification.objects.get()  # the admin's only, not the agent's
    client.force_login(admin)

    response = client.get(reverse("admin:notifications_notification_change", args=[notice.pk]))

    assert response.status_code == 302
    assert response["location"] == reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])
    listed = client.get(reverse("admin:notifications_notification_changelist"))
    assert "Webhook endpoint CRM was disabled" in listed.content.decode()


def test_an_endpoint_disabled_by_an_admin_tells_no_one(
    receiver: Receiver, make_endpoint: Callable[..., tuple[Endpoint, str]], admin: User
) -> None:
    endpoint, _ = make_endpoint(receiver.url)
    AdminFactory.create()
    services.endpoint_disable(endpoint=endpoint, actor=admin, reason="Maintenance.")
    outbox.run_inline()
    assert not Notification.objects.exists()


def test_an_endpoint_is_not_disabled_before_the_period_even_after_many_failures(
    receiver: Receiver,
    make_endpoint: Callable[..., tuple[Endpoint, str]],
    admin: User,
    settings: Settings,
) -> None:
    settings.WEBHOOKS_RETRY_SECONDS = [0, 0, 0, 0]
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOKS_DISABLE_AFTER_SECONDS = 3600
    receiver.reply = lambda n: (500, {}, b"")
    endpoint, _ = make_endpoint(receiver.url)
    record("demo.happened", admin)

    outbox.run_inline()

    endpoint.refresh_from_db()
    assert endpoint.is_active is True
    assert endpoint.failure_streak == 5
    assert endpoint.failing_since is not None


def test_a_success_ends_the_failure_streak(
    receiver: Receiver, make_endpoint: Callable[..., tuple[Endpoint, str]], admin: User
) -> None:
    receiver.fail_first(2)
    endpoint, _ = make_endpoint(receiver.url)
    record("demo.happened", admin)

    outbox.run_inline()

    endpoint.refresh_from_db()
    assert endpoint.failure_streak == 0
    assert endpoint.failing_since is None
