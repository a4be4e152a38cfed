"""Every event the automation app records, and what each payload holds.

The event log keeps payloads forever, so these shapes are a contract: keys may be added,
never renamed or dropped. A rule is named in payloads as ``{"id", "name", "version"}``
(the version it had when it acted); the event that made it act as ``event_id`` (the
``EventLog`` id, None when unknown) and ``event_type``.

What rules did (subject: the ticket; ticket_key; actor None: the system). Events the
rule's own changes record (``ticket.updated``, ...) carry ``"via": {"kind": "rule",
"id", "name", "version"}`` in their payload, and their history rows
``via = "rule: <name> (v<version>)"``.

``automation.rule_applied``, once per rule that matched and acted::

    {"rule": {...}, "trigger": str, "event_id": int | None, "event_type": str,
     "depth": int (1: fired by a person's or the system's change, 2: by a rule's, ...),
     "actions": [{"type": str, ...what it did: "value", "stage_id", "team_id",
                  "assignee_id", "tags", "field", "comment_id", "endpoint_id",
                  "recipients"}]}

``automation.rule_failed``, a rule whose action was refused (its changes rolled back,
the change that fired it stands)::

    {"rule": {...}, "trigger", "event_id", "event_type", "depth",
     "action": position of the failing action (1-based), "action_type": str,
     "reason": the refusal's text}

``automation.chain_stopped``, rules not run because the chain of rules firing rules
reached ``AUTOMATION_MAX_DEPTH``::

    {"trigger", "event_id", "event_type", "max_depth": int,
     "chain": [rule, ...] (outermost first: the rules whose changes led here),
     "not_run": [rule, ...] (the rules of the trigger that would have been tried)}

``automation.mail_requested``, a send_mail action (``email_integration`` sends it after
commit, threaded like every desk mail)::

    {"ticket_id": int, "rule": {...}, "event_id": int | None,
     "to": "requester" | "assignee" | "team" | "address",
     "user_ids": [int] (the recipients who are users; empty for an address),
     "address": str (the address, for "address"; else ""),
     "subject": str, "body": str (rendered)}

``automation.webhook_requested``, a call_webhook action (the ``webhooks`` app delivers
it to the endpoint)::

    {"endpoint_id": int, "ticket_id": int, "ticket_key": str, "rule": {...},
     "event_id": int | None}

Rules themselves (subject: the rule; actor: the admin who changed it)
------------------------------------------------------------------------
``automation_rule.created`` and ``automation_rule.deleted``: the rule as it was then::

    {"name", "description", "is_active", "position", "trigger", "match",
     "conditions", "actions", "stop_processing", "time_basis", "time_amount",
     "time_unit", "calendar_id", "version"}

``automation_rule.updated``: ``{"fields": [changed fields, sorted], "changes": {field:
[old, new]}, "version": the new version}``.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from eventlog.services import event_record
from nixflow.models import Ticket

RULE_APPLIED = "automation.rule_applied"
RULE_FAILED = "automation.rule_failed"
CHAIN_STOPPED = "automation.chain_stopped"
MAIL_REQUESTED = "automation.mail_requested"
WEBHOOK_REQUESTED = "automation.webhook_requested"

RULE_CREATED = "automation_rule.created"
RULE_UPDATED = "automation_rule.updated"
RULE_DELETED = "automation_rule.deleted"

ALL = frozenset(
    {
        RULE_APPLIED,
        RULE_FAILED,
        CHAIN_STOPPED,
        MAIL_REQUESTED,
        WEBHOOK_REQUESTED,
        RULE_CREATED,
        RULE_UPDATED,
        RULE_DELETED,
    }
)


def record_ticket_event(*, type: str, ticket: Ticket, payload: dict[str, Any]) -> int:
    """Append an ``automation.*`` event about ``ticket`` (by the system) in the current
    transaction; its id."""
    if type not in ALL:
        raise ValueError(f"{type!r} is not declared in automation.events")
    event = event_record(
        type=type, subject=ticket, actor=None, ticket_key=ticket.key, payload=payload
    )
    return int(event.pk)


def record_rule_event(
    *, type: str, rule: models.Model, actor: Any | None, payload: dict[str, Any]
) -> None:
    """Append an ``automation_rule.*`` event in the current transaction."""
    if type not in ALL:
        raise ValueError(f"{type!r} is not declared in automation.events")
    event_record(type=type, subject=rule, actor=actor, payload=payload)
