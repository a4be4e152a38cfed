"""Acknowledging a breach: who has seen it, when, and why."""

from __future__ import annotations

from typing import cast

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from nixflow.models import Ticket, User
from nixflow.toolkit.errors import ConflictError
from sla import events
from sla.models import SLABreach


@transaction.atomic
def breach_acknowledge(*, breach: SLABreach, actor: User, note: str = "") -> SLABreach:
    """Record who acknowledged the breach, when, and why: once. A second acknowledgement
    is refused, naming the first, so nobody's note is overwritten."""
    if not actor.is_agent:
        raise PermissionDenied("Only agents can acknowledge SLA breaches.")
    breach = (
        SLABreach.objects.select_for_update(of=("self",))
        .select_related("acknowledged_by")
        .get(pk=breach.pk)
    )
    if breach.acknowledged_at is not None:
        # sla_breach_acknowledged_by_someone: an acknowledgement always names who.
        by = cast(User, breach.acknowledged_by).get_username()
        raise ConflictError(
            f"Already acknowledged by {by} at {breach.acknowledged_at:%Y-%m-%d %H:%M} UTC."
        )
    breach.acknowledged_by = actor
    breach.acknowledged_at = timezone.now()
    breach.acknowledgement_note = note.strip()
    breach.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledgement_note"])
    events.publish(
        events.SLA_ACKNOWLEDGED,
        subject=breach,
        actor=actor,
        ticket_key=Ticket.key_for(breach.ticket_id),
        occurred_at=breach.acknowledged_at,
        payload={"note": breach.acknowledgement_note, "breach_type": breach.breach_type},
    )
    return breach
