"""Every event the SLA app records in the event log, and what each payload holds.

The services (``sla.services``) and the clocks (``sla.clocks``) record these in the
transaction of the change they describe, through the functions below; nothing in the
app names an event type by a bare string. Subscribers (``sla.notifications``) use the
same constants.

The event log keeps payloads forever, so the shapes below are a contract: keys may be
added, never renamed or dropped. Every event also carries its subject (app, model and
id of the row), its actor (None: the system, such as the monitor) and its time in the
event log's own columns; ids in payloads are primary keys.

Clocks and breaches (actor None unless said; ticket_key: the ticket's key)
-----------------------------------------------------------------------------
``sla.at_risk`` (subject: the clock, ``SLAMetric``)
    ``{"metric_type": str, "policy_id": int, "deadline": ISO datetime}``
``sla.breached`` (subject: the breach, ``SLABreach``; occurred_at: when it breached)
    ``{"metric_id": int, "policy_id": int, "breach_type": str}``
``sla.acknowledged`` (subject: the breach; actor: who acknowledged it)
    ``{"note": str, "breach_type": str}``

Configuration (subject: the policy or calendar; actor: who changed it)
------------------------------------------------------------------------
A policy's targets, and a calendar's working intervals and holidays, are part of their
parent: a change that touches the parent and its rows is one event.

``sla.policy.created`` and ``sla.policy.deleted``: the policy as it was then::

    {"name": str, "order": int, "is_active": bool, "workflow": id | null,
     "priorities": [str], "sources": [str], "calendar": id | null,
     "warning_threshold": int, "escalation_email": str,
     "targets": [{"priority": str, "metric_type": str, "minutes": int}, ...]}

``sla.calendar.created`` and ``sla.calendar.deleted``: the calendar as it was then::

    {"name": str, "time_zone": str, "holiday_country": str, "holiday_subdivision": str,
     "intervals": [{"weekday": 0-6 (Monday 0), "start": "HH:MM:SS", "end": "HH:MM:SS"}],
     "holidays": [{"date": "YYYY-MM-DD", "name": str}]}

``sla.policy.updated`` and ``sla.calendar.updated``: only what changed, each field with
its old and new value, in the shapes above::

    {"changes": {"order": [10, 3], "targets": [[...old rows], [...new rows]], ...}}

Rows are listed sorted (targets by metric type then priority, intervals by weekday then
start, holidays by date), so equal sets compare equal. An update that changes nothing
records nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import models

from eventlog.services import event_build, event_record, event_record_many
from nixflow.models import Ticket
from sla.models import SLABreach, SLAMetric

# --- Clocks and breaches ----------------------------------------------------------------
SLA_AT_RISK = "sla.at_risk"
SLA_BREACHED = "sla.breached"
SLA_ACKNOWLEDGED = "sla.acknowledged"

# --- Configuration ----------------------------------------------------------------------
POLICY_CREATED = "sla.policy.created"
POLICY_UPDATED = "sla.policy.updated"
POLICY_DELETED = "sla.policy.deleted"
CALENDAR_CREATED = "sla.calendar.created"
CALENDAR_UPDATED = "sla.calendar.updated"
CALENDAR_DELETED = "sla.calendar.deleted"

ALL_TYPES = frozenset(
    {
        SLA_AT_RISK,
        SLA_BREACHED,
        SLA_ACKNOWLEDGED,
        POLICY_CREATED,
        POLICY_UPDATED,
        POLICY_DELETED,
        CALENDAR_CREATED,
        CALENDAR_UPDATED,
        CALENDAR_DELETED,
    }
)


def publish(
    type: str,
    *,
    subject: models.Model,
    actor: Any | None,
    payload: dict[str, Any],
    ticket_key: str = "",
    occurred_at: datetime | None = None,
) -> None:
    """Append one event in the caller's transaction (``actor`` None: the system)."""
    # Passes its arguments on by name (the shape of every wrapper of event_record).
    event_record(
        type=type,
        subject=subject,
        actor=actor,
        payload=payload,
        ticket_key=ticket_key,
        occurred_at=occurred_at,
    )


# Same shape as publish_at_risk below: another event type, row and payload, each one INSERT.
def publish_breaches(breaches: Sequence[SLABreach]) -> None:
    """``sla.breached`` for each new breach, in one INSERT."""
    event_record_many(
        events=[
            event_build(
                type=SLA_BREACHED,
                subject=breach,
                actor=None,
                ticket_key=Ticket.key_for(breach.ticket_id),
                occurred_at=breach.breached_at,
                payload={
                    "metric_id": breach.metric_id,
                    "policy_id": breach.policy_id,
                    "breach_type": breach.breach_type,
                },
            )
            for breach in breaches
        ]
    )


def publish_at_risk(metrics: Sequence[SLAMetric]) -> None:
    """``sla.at_risk`` for each clock the monitor marked, in one INSERT."""
    event_record_many(
        events=[
            event_build(
                type=SLA_AT_RISK,
                subject=metric,
                actor=None,
                ticket_key=Ticket.key_for(metric.ticket_id),
                payload={
                    "metric_type": metric.metric_type,
                    "policy_id": metric.policy_id,
                    "deadline": metric.deadline,
                },
            )
            for metric in metrics
        ]
    )
