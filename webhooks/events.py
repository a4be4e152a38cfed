"""Every event the webhooks app records, and what each payload holds.

The event log keeps payloads forever, so these shapes are a contract: keys may be added,
never renamed or dropped. Secrets are never in them.

``webhook.created`` / ``webhook.deleted`` (subject: the ``Endpoint``; actor: the admin)::

    {"name": str, "origin": str, "event_types": [str, ...], "filters": {str: any}}

``origin`` is the URL's scheme, host and port only: a URL's path often holds a token (a
chat's incoming-webhook URL is a credential), and the log is forever and read by agents.

``webhook.updated`` (subject: the ``Endpoint``; actor: the admin, or the system)::

    {"fields": [str, ...], "changes": {field: [old, new]}}

``url`` is listed in ``fields`` when it changed but its values are not in ``changes``.

A rotated secret is ``"secret": ["rotated", "rotated"]``; enabling again is
``"is_active": [false, true]``.

``webhook.disabled`` (subject: the ``Endpoint``; actor: the admin, or None when the desk
disabled it after sustained failure)::

    {"name": str, "origin": str, "reason": str, "automatic": bool,
     "failure_streak": int, "failing_since": str | null}

``webhook.tested`` (subject: the ``Endpoint``; actor: the admin): the event a "send test
event" delivers, to that endpoint only::

    {"endpoint_id": int, "message": str}

``webhook.redelivered`` (subject: the ``Endpoint``; actor: the admin)::

    {"delivery_id": int, "webhook_id": str, "event_id": int}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from eventlog.models import EventLog
from eventlog.services import event_record
from nixflow.models import User
from webhooks.models import Delivery, Endpoint

WEBHOOK_CREATED = "webhook.created"
WEBHOOK_UPDATED = "webhook.updated"
WEBHOOK_DELETED = "webhook.deleted"
WEBHOOK_DISABLED = "webhook.disabled"
WEBHOOK_TESTED = "webhook.tested"
WEBHOOK_REDELIVERED = "webhook.redelivered"
# Recorded by the automation app's "call a webhook" action (its payload names the
# endpoint): delivered to that endpoint only.
AUTOMATION_WEBHOOK_REQUESTED = "automation.webhook_requested"
# The app's own events reach an endpoint only when it names them ("webhook.disabled",
# "webhook.*"), never through "*": an endpoint would otherwise hear of its own creation.
OWN_FAMILY = "webhook."
# Events addressed to one endpoint: never delivered to others by their event types.
DIRECTED = frozenset({WEBHOOK_TESTED, AUTOMATION_WEBHOOK_REQUESTED})


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _identity(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "name": endpoint.name,
        "origin": origin(endpoint.url),
        "event_types": list(endpoint.event_types),
        "filters": dict(endpoint.filters),
    }


def webhook_created(*, endpoint: Endpoint, actor: User | None) -> None:
    event_record(type=WEBHOOK_CREATED, subject=endpoint, actor=actor, payload=_identity(endpoint))


def webhook_updated(
    *, endpoint: Endpoint, actor: User | None, fields: list[str], changes: dict[str, Any]
) -> None:
    event_record(
        type=WEBHOOK_UPDATED,
        subject=endpoint,
        actor=actor,
        payload={"fields": sorted(fields), "changes": changes},
    )


def webhook_deleted(*, endpoint: Endpoint, actor: User | None) -> None:
    event_record(type=WEBHOOK_DELETED, subject=endpoint, actor=actor, payload=_identity(endpoint))


def webhook_disabled(*, endpoint: Endpoint, actor: User | None, automatic: bool) -> None:
    event_record(
        type=WEBHOOK_DISABLED,
        subject=endpoint,
        actor=actor,
        payload={
            "name": endpoint.name,
            "origin": origin(endpoint.url),
            "reason": endpoint.disabled_reason,
            "automatic": automatic,
            "failure_streak": endpoint.failure_streak,
            "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
        },
    )


def webhook_tested(*, endpoint: Endpoint, actor: User | None) -> EventLog:
    return event_record(
        type=WEBHOOK_TESTED,
        subject=endpoint,
        actor=actor,
        payload={
            "endpoint_id": endpoint.pk,
            "message": "A test event: the endpoint's URL and signature check work.",
        },
    )


def webhook_redelivered(*, delivery: Delivery, actor: User | None) -> None:
    event_record(
        type=WEBHOOK_REDELIVERED,
        subject=delivery.endpoint,
        actor=actor,
        payload={
            "delivery_id": delivery.pk,
            "webhook_id": delivery.webhook_id,
            "event_id": delivery.event_id,
        },
    )
