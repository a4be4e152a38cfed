"""The SLA app's queues on the desk (nixflow.toolkit.queues): tickets at risk,
breaching within the hour (the agent's and their teams'), and breached. Registered in
``SlaConfig.ready``; the ticket list's ``?queue=`` filter shows the same tickets
through the same functions.

Each is a ticket count at a million tickets, so each is read through an index:

- breached: ``sla_due_at <= now`` on nf_ticket_sla_due_created, a range scan from the oldest
  deadline that stops at the count's cap. ``sla_due_at`` is the earliest deadline among
  the ticket's counting clocks (sla.clocks.DUE: ticking, or breached and still counting),
  so it is past exactly when a running clock has passed its deadline, whether or not the
  monitor has marked it breached yet. A breached clock that is paused (the ticket waits
  on the requester) does not count: nobody can act on it now.
- at risk: a clock the monitor marked at risk whose deadline is still ahead, or a running
  clock past its warning time that the monitor has not marked yet, each read through its
  partial index (sla_metric_at_risk, sla_metric_warning), as the SLA dashboard reads
  them; the dashboard counts clocks, the desk tickets. Between its deadline and the next
  scan (a minute) an unmarked running clock is both at risk and breached.
- breaching within the hour: the agent's tickets or their teams', whose ``sla_due_at``
  is ahead and at most an hour away (``now < sla_due_at <= now + 1 h``): the tickets to
  act on before they breach. A range of nf_ticket_sla_due_created an hour wide (the desk's
  deadlines of the next hour, a few thousand at a million tickets), each then checked
  for its assignee and team. Paused clocks are not counted (``sla_due_at`` is the
  earliest *counting* deadline), as in Breached.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from nixflow.models import Ticket, User
from nixflow.toolkit import queues
from nixflow.toolkit.queues import my_team_ids
from sla.models import SLAMetric, SLAStatus


def at_risk_tickets(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    # A UNION ALL of one query per partial index: written as one OR, PostgreSQL reads
    # every open clock (or walks the whole ticket table along its primary key) instead.
    now = timezone.now()
    clocks = SLAMetric.objects.order_by().values("ticket_id")
    marked = clocks.filter(status=SLAStatus.AT_RISK, deadline__gt=now)  # sla_metric_at_risk
    warned = clocks.filter(status=SLAStatus.RUNNING, warning_at__lte=now)  # sla_metric_warning
    return queryset.filter(pk__in=marked.union(warned, all=True))


def breached_tickets(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    return queryset.filter(sla_due_at__lte=timezone.now())


BREACHING_WITHIN = timedelta(hours=1)


def breaching_soon_tickets(queryset: QuerySet[Ticket], user: User) -> QuerySet[Ticket]:
    now = timezone.now()
    return queryset.filter(
        Q(assignee=user) | Q(team_id__in=my_team_ids(user)),
        sla_due_at__gt=now,
        sla_due_at__lte=now + BREACHING_WITHIN,
    )


def register() -> None:
    queues.register_queue(
        slug="at-risk",
        title=_("At risk"),
        tickets=at_risk_tickets,
        description=_("A clock passes its deadline soon"),
        sort="sla",  # least time left first, on nf_ticket_sla_due_created
        tone="warning",
        order=30,
    )
    queues.register_queue(
        slug="breaching-soon",
        title=_("Breaching within the hour"),
        tickets=breaching_soon_tickets,
        description=_("Yours or your teams': a deadline in the next hour"),
        sort="sla",  # the nearest deadline first, a range of nf_ticket_sla_due_created
        tone="warning",
        order=35,
    )
    queues.register_queue(
        slug="breached",
        title=_("Breached"),
        tickets=breached_tickets,
        description=_("A running clock is past its deadline"),
        sort="sla",  # most overdue first: a range of nf_ticket_sla_due_created, no sort
        tone="danger",
        order=40,
    )
    queues.register_desk_link(
        slug="sla-dashboard",
        title=_("SLA dashboard"),
        url_name="sla_dashboard",
        description=_("Compliance, breaches to acknowledge, clocks at risk"),
        order=10,
    )
