"""What the mail app records in the event log: every event type, its payload, and the
functions that record them.

Events are kept forever (the log is append-only and sealed), so a payload is a contract:
add keys, never rename or drop them, and never put a secret in one. Every event is
recorded in the transaction of the change it describes (``eventlog.services``), so the
change and its event commit or roll back together.

Payloads:

- ``email.account.created`` — subject: the ``EmailAccount``; actor: who created it.
  ``{"name", "address", "protocol", "host", "port", "username", "folder", "is_active",
  "workflow" (id or null), "default_priority", "poll_interval_seconds", "use_tls",
  "has_password" (bool)}``. The password itself never appears.
- ``email.account.updated`` — ``{"changes": {field: [old, new], ...}}`` for each field
  that changed. Secret fields (``SECRET_FIELDS``) appear as ``[null, null]`` plus
  ``"secrets_changed": [field, ...]``: the event says *that* the password changed, never
  what it was or became. A save that changes nothing records no event.
- ``email.account.deleted`` — ``{"name", "address"}`` (the row is gone afterwards).
- ``email.account.oauth_authorized`` — an admin authorized an OAuth2 account through the
  provider's consent flow (``email_integration.oauth``): ``{"provider", "scope"}``.
- ``email.account.oauth_failed`` — the provider refused to refresh the account's access
  token (revoked, lapsed, a wrong client secret); the account needs authorizing again:
  ``{"reason"}`` (the provider's error code and description). The actor is the system.
- ``email.received`` — subject: the stored inbound ``EmailMessage``; actor: the system.
  ``{"status", "message_type", "from", "reason", "sender_auth"}`` once intake processed
  it (ticket, comment, ignored, failed, suspended).
- ``email.suspended`` / ``email.released`` / ``email.rejected`` — an inbound message held
  because its sender could not be authenticated, and staff's verdict on it:
  ``{"from", "reason"}`` (released and rejected have the staff member as actor).
- ``email.sent`` — subject: the outbound ``EmailMessage``; actor: the system.
  ``{"to": [addresses], "attempts"}``.
- ``email.send_failed`` — an outbound message given up after the configured number of
  attempts (``EMAIL_SEND_MAX_ATTEMPTS``): ``{"to", "attempts", "reason"}``.
- ``email.resent`` — staff queued a failed outbound message again (admin action or API):
  ``{"to", "previous_attempts", "previous_reason"}``.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from eventlog.personal import personal
from eventlog.services import event_record

ACCOUNT_CREATED = "email.account.created"
ACCOUNT_UPDATED = "email.account.updated"
ACCOUNT_DELETED = "email.account.deleted"
OAUTH_AUTHORIZED = "email.account.oauth_authorized"
OAUTH_FAILED = "email.account.oauth_failed"

RECEIVED = "email.received"
SUSPENDED = "email.suspended"
RELEASED = "email.released"
REJECTED = "email.rejected"

SENT = "email.sent"
SEND_FAILED = "email.send_failed"
RESENT = "email.resent"

ALL = frozenset(
    {
        ACCOUNT_CREATED,
        ACCOUNT_UPDATED,
        ACCOUNT_DELETED,
        OAUTH_AUTHORIZED,
        OAUTH_FAILED,
        RECEIVED,
        SUSPENDED,
        RELEASED,
        REJECTED,
        SENT,
        SEND_FAILED,
        RESENT,
    }
)

# Fields of EmailAccount whose values never leave the row: events name them, never show them.
SECRET_FIELDS = frozenset(
    {"password", "oauth_client_secret", "oauth_refresh_token", "oauth_access_token"}
)


# Same shape as knowledge.events.publish: each app's own way into the event log, checking its own
# declared types.
def publish(
    type: str,
    *,
    subject: models.Model,
    actor: Any | None,
    payload: dict[str, Any] | None = None,
    ticket_key: str = "",
) -> None:
    """Append one event of ``type`` in the caller's transaction (``actor`` None: the
    system, e.g. a Celery task or mail intake)."""
    if type not in ALL:
        raise ValueError(f"{type!r} is not declared in email_integration.events")
    event_record(
        type=type,
        subject=subject,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        payload=payload or {},
        ticket_key=ticket_key,
    )


# Addresses, and reasons that may quote them (a suspension names the sender, a bounce its
# recipient), are the people's personal data: stored encrypted under their key
# (eventlog.personal), so that erasing them leaves the log verifiable.
def of_sender(address: str, value: Any) -> Any:
    """``value`` (the address itself, or a reason quoting it) as ``address``'s."""
    return personal(value, person=address) if address.strip() else value


def recipients(addresses: list[str]) -> list[Any]:
    """Each recipient's address under their own key."""
    return [of_sender(address, address) for address in addresses]


def of_recipients(addresses: list[str], value: Any) -> Any:
    """A reason about a message to ``addresses`` (a bounce may quote any of them): under
    the first recipient's key."""
    return of_sender(addresses[0], value) if addresses else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def changes_payload(changes: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """``email.account.updated``'s payload from a field → (old, new) diff, secrets hidden."""
    shown = {
        name: [None, None] if name in SECRET_FIELDS else [_jsonable(old), _jsonable(new)]
        for name, (old, new) in changes.items()
    }
    payload: dict[str, Any] = {"changes": shown}
    secrets = sorted(name for name in changes if name in SECRET_FIELDS)
    if secrets:
        payload["secrets_changed"] = secrets
    return payload
