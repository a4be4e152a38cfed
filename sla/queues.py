"""The SLA app's queues on the desk (nixflow.toolkit.queues): tickets at risk and
breached. Registered in ``SlaConfig.ready``; the ticket list's ``?queue=`` filter shows
the same tickets through the same functions.

Each is a ticket count at a million tickets, so each is read through an index:

- breached: ``sla_due_at <= now`` on nf_ticket_sla_due, a range scan from the oldest
  deadline that stops at the count's cap. ``sla_due_at`` is the earliest deadline among
  the ticket's counting clocks (sla.clocks.DUE: ticking, or breached and still counting),
  so it is past exactly when a running clock has passed its deadline, whether or not the
  monitor has marked it breached yet. A breached clock that is paused (the ticket waits
  on the requester) does not count: nobody can act on it now.
- at risk: a ticking clock past its warning time whose deadline is still ahead, in the
  terms of the partial indexes sla_metric_at_risk and sla_metric_warning (marked at risk
  by the monitor, or running past warning_at and not marked yet), as the SLA dashboard
  reads them; the dashboard counts clocks, the desk tickets.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from nixflow.models import Ticket, User
from nixflow.toolkit import queues
from sla.models import SLAMetric, SLAStatus


def at_risk_tickets(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    now = timezone.now()
    clocks = SLAMetric.objects.filter(
        Q(status=SLAStatus.AT_RISK) | Q(status=SLAStatus.RUNNING, warning_at__lte=now),
        deadline__gt=now,
    )
    return queryset.filter(pk__in=clocks.values("ticket_id"))


def breached_tickets(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    return queryset.filter(sla_due_at__lte=timezone.now())


def register() -> None:
    queues.register_queue(
        slug="at-risk",
        title="At risk",
        tickets=at_risk_tickets,
        description="A clock passes its deadline soon",
        tone="warning",
        order=30,
    )
    queues.register_queue(
        slug="breached",
        title="Breached",
        tickets=breached_tickets,
        description="A running clock is past its deadline",
        tone="danger",
        order=40,
    )
    queues.register_desk_link(
        slug="sla-dashboard",
        title="SLA dashboard",
        url_name="sla_dashboard",
        description="Compliance, breaches to acknowledge, clocks at risk",
        order=10,
    )
