"""Every event the notifications app records, and what each payload holds.

The event log keeps payloads forever, so these shapes are a contract: keys may be added,
never renamed or dropped.

``notification.created`` (subject: the ``Notification``; actor: None, the system;
ticket_key: the ticket's key), one per notification, in the transaction that writes it::

    {"recipient_id": int, "ticket_id": int, "kind": str, "reasons": [str, ...],
     "channels": ["in_admin", "email"] (those on for the recipient, at least one),
     "text": str, "source_event_id": int, "comment_id": int | null,
     "message": {"text": str, "params": {name: str}, "dates": [name, ...]}}

``ticket_id`` is null (and ``ticket_key`` empty) for a notice about no ticket, told to
admins (kind ``webhook_disabled``); such a notice is not mailed.

It is how the mail channel works: ``email_integration`` subscribes to it and mails the
recipient when ``"email"`` is among the channels, loading the ticket, the recipient and
the comment (core rows) by their ids. Why this shape: a feature app cannot import
another, so the payload must carry all that the mail needs besides core rows; and since
it stays forever, it carries ids and one sentence of usernames, ticket key and stage
names (``text``), never user-written text such as a comment or a ticket title (which
their owners can edit or erase), nor an e-mail address.

``text`` is the sentence in English, as the notification row keeps it. ``message``
(added with translations; events recorded before lack it) is the same sentence to be
translated when it is read: ``text`` an English message id with ``%(name)s``
placeholders (in the notifications app's catalog), ``params`` their values, ``dates``
the names of those parameters that are ISO 8601 datetimes, to be shown in the reader's
time zone. A reader renders ``gettext(message["text"]) % params`` in the reader's
language, and falls back to ``text`` when ``message`` is absent (an old event) or does
not render (a message id since reworded is simply not translated).

``notification.team_notice`` (subject: the ``Team``; actor: None; ticket_key: the
ticket's key), one per team told of an event at the team's own address (``Team.email``;
today the kind ``team_unassigned``: a new ticket in the team, unassigned)::

    {"team_id": int, "ticket_id": int, "kind": str, "text": str, "source_event_id": int,
     "message": {"text": str, "params": {name: str}, "dates": [name, ...]}}

(``message`` as in ``notification.created``; absent in events recorded before it.)

A separate event, not a ``notification.created`` without a recipient: the address is no
user, so it has no preferences, no notification row and no reply token, and readers of
``notification.created`` rely on ``recipient_id``. The address itself is not in the
payload (the log is forever, and the team's address may change): ``email_integration``
mails ``Team.email`` as it is when the notice is delivered, and nothing if it is empty.

``notification.preferences.updated`` (subject: the agent whose preferences changed;
actor: who changed them)::

    {"changes": {kind: {"in_admin": [old, new], "email": [old, new]}}}

with only the kinds and channels that changed. Marking notifications read or unread
records nothing: it is one person's reading state, not a change to the desk.
"""

from __future__ import annotations

from typing import Any

from eventlog.personal import person_of, personal
from eventlog.services import event_record
from nixflow.models import Team, Ticket, User
from notifications.models import Notification

NOTIFICATION_CREATED = "notification.created"
PREFERENCES_UPDATED = "notification.preferences.updated"
TEAM_NOTICE = "notification.team_notice"


def _about(ticket: Ticket | None, value: Any) -> Any:
    """A notice's text names people and quotes the ticket (its title, who wrote): stored
    encrypted under the requester's key (eventlog.personal), erasable with them."""
    return personal(value, person=person_of(ticket.requester)) if ticket is not None else value


def notification_created(
    *,
    notification: Notification,
    ticket: Ticket | None,
    source_event_id: int,
    message: dict[str, Any] | None = None,
) -> None:
    channels = [
        name
        for name, on in (("in_admin", notification.in_admin), ("email", notification.email))
        if on
    ]
    event_record(
        type=NOTIFICATION_CREATED,
        subject=notification,
        actor=None,
        ticket_key=ticket.key if ticket is not None else "",
        payload={
            "recipient_id": notification.recipient_id,
            "ticket_id": ticket.pk if ticket is not None else None,
            "kind": notification.kind,
            "reasons": list(notification.reasons),
            "channels": channels,
            "text": _about(ticket, notification.text),
            "source_event_id": source_event_id,
            "comment_id": notification.comment_id,
            **({"message": _about(ticket, message)} if message is not None else {}),
        },
    )


def team_notice(
    *,
    team: Team,
    ticket: Ticket,
    kind: str,
    text: str,
    source_event_id: int,
    message: dict[str, Any] | None = None,
) -> None:
    event_record(
        type=TEAM_NOTICE,
        subject=team,
        actor=None,
        ticket_key=ticket.key,
        payload={
            "team_id": team.pk,
            "ticket_id": ticket.pk,
            "kind": kind,
            "text": _about(ticket, text),
            "source_event_id": source_event_id,
            **({"message": _about(ticket, message)} if message is not None else {}),
        },
    )


def preferences_updated(*, user: User, actor: User | None, changes: dict[str, Any]) -> None:
    event_record(type=PREFERENCES_UPDATED, subject=user, actor=actor, payload={"changes": changes})
