"""The SLA where agents work: the "SLA" column and filter of the ticket list and the
"SLA clocks" panel of the ticket's page, registered with the core's toolkit in
``SlaConfig.ready`` (the core imports no feature app).

The column reads each page's clocks in one query (``sla_cells``); it sorts, and the
filter selects, by ``Ticket.sla_due_at``, the earliest deadline of the ticket's ticking
clocks, which ``sla.clocks.keep_due`` keeps in the ticket's transaction: sorting "most
urgent first" walks the index ``nf_ticket_sla_due_created`` instead of joining the clocks.

A ticket's state, from its clocks that can still change:
- overdue: a ticking clock's deadline has passed (breached, still counting, included);
- at risk: a clock the monitor marked at risk (past the policy's warning threshold);
- on track: ticking, neither of the above;
- paused: no clock ticks, one waits (the ticket waits on the requester);
- none: no clock can change (no policy applies, or all completed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from nixflow.models import Ticket
from nixflow.toolkit.formats import format_datetime, format_duration, format_time_left
from sla.models import OPEN_STATUSES, WAITING_CLOCK, SLAMetric, SLAStatus

# The clocks that can still change: running, at risk, paused, breached still counting.
OPEN = Q(status__in=OPEN_STATUSES) | Q(status=SLAStatus.BREACHED, completed_at__isnull=True)

OVERDUE, AT_RISK, ON_TRACK, PAUSED, NONE = "overdue", "at_risk", "on_track", "paused", "none"
STATES = [
    (OVERDUE, _("Overdue")),
    (AT_RISK, _("At risk")),
    (ON_TRACK, _("On track")),
    (PAUSED, _("Paused")),
    (NONE, _("No clock")),
]
# Most urgent first; tickets without a running clock last (the btree's own order).
URGENCY_ORDERING = F("sla_due_at").asc(nulls_last=True)


@dataclass(frozen=True)
class Urgency:
    state: str
    text: str
    title: str


def _is_due(metric: SLAMetric) -> bool:
    return metric.completed_at is None and (
        metric.status in (SLAStatus.RUNNING, SLAStatus.AT_RISK)
        or (metric.status == SLAStatus.BREACHED and metric.running_since is not None)
    )


def urgency(metrics: Sequence[SLAMetric], *, now: datetime) -> Urgency | None:
    """How urgent a ticket is by its open clocks: the one with the earliest deadline
    speaks for it; None when no clock is open."""
    due = [m for m in metrics if _is_due(m) and m.deadline is not None]
    if due:
        first = min(due, key=lambda m: m.deadline or now)
        deadline = first.deadline or now
        if deadline <= now or first.status == SLAStatus.BREACHED:
            state = OVERDUE
        elif any(m.status == SLAStatus.AT_RISK for m in due):
            state = AT_RISK
        else:
            state = ON_TRACK
        title = gettext("%(metric)s due %(deadline)s") % {
            "metric": first.get_metric_type_display(),
            "deadline": format_datetime(deadline),
        }
        return Urgency(state, format_time_left(deadline, now=now), title)
    if metrics:
        return Urgency(
            PAUSED,
            pgettext("SLA clock", "paused"),
            gettext("No clock runs while the ticket waits"),
        )
    return None


def _unbroken_duration(text: str) -> SafeString:
    """ "overdue 16 h 42 min" with the duration kept on one line, so that a narrow cell
    breaks before or after it ("overdue" / "16 h 42 min"), never inside it."""
    # The words around the duration as format_left writes them in the active language.
    for template in (gettext("overdue %(duration)s"), gettext("%(duration)s left")):
        before, _marker, after = template.partition("%(duration)s")
        if (
            _marker
            and len(text) > len(before) + len(after)
            and text.startswith(before)
            and text.endswith(after)
        ):
            duration = text[len(before) : len(text) - len(after)]
            return format_html('{}<span class="nf-nowrap">{}</span>{}', before, duration, after)
    return format_html("{}", text)


def sla_cells(request: HttpRequest, tickets: Sequence[Ticket]) -> dict[int, SafeString]:
    """The SLA column of a page of the ticket list: one query for all its tickets (on
    sla_metric_ticket), the time left of each ticket's most urgent clock."""
    now = timezone.now()
    by_ticket: dict[int, list[SLAMetric]] = {}
    # order_by(): SLAMetric's default order joins the ticket, which this does not need.
    metrics = SLAMetric.objects.filter(OPEN, ticket_id__in=[t.pk for t in tickets]).order_by()
    metrics = metrics.only(
        "ticket_id",
        "metric_type",
        "status",
        "deadline",
        "running_since",
        "completed_at",
    )
    for metric in metrics:
        by_ticket.setdefault(metric.ticket_id, []).append(metric)
    cells = {}
    for ticket_id, ticket_metrics in by_ticket.items():
        shown = urgency(ticket_metrics, now=now)
        if shown is not None:
            cells[ticket_id] = format_html(
                '<span class="nf-sla nf-sla-{}" title="{}">{}</span>',
                shown.state.replace("_", "-"),
                shown.title,
                _unbroken_duration(shown.text),
            )
    return cells


def filter_by_state(tickets: QuerySet[Ticket], state: str) -> QuerySet[Ticket]:
    """The SLA filter of the ticket list (see the module's docstring for the states)."""
    now = timezone.now()
    at_risk = Exists(SLAMetric.objects.filter(ticket=OuterRef("pk"), status=SLAStatus.AT_RISK))
    waiting = Exists(SLAMetric.objects.filter(OPEN, ticket=OuterRef("pk")))
    if state == OVERDUE:
        return tickets.filter(sla_due_at__lte=now)
    if state == AT_RISK:
        return tickets.filter(at_risk, sla_due_at__gt=now)
    if state == ON_TRACK:
        return tickets.filter(~at_risk, sla_due_at__gt=now)
    if state == PAUSED:
        # No ticking clock (no due time) and one that waits: the waiting clocks' ticket
        # ids, read from the partial index sla_metric_waiting and hashed once.
        waiting_clocks = SLAMetric.objects.filter(WAITING_CLOCK).order_by().values("ticket_id")
        return tickets.filter(sla_due_at__isnull=True, pk__in=waiting_clocks)
    if state == NONE:
        return tickets.filter(~waiting, sla_due_at__isnull=True)
    return tickets


# --- the ticket's page --------------------------------------------------------------------
def _clock_row(metric: SLAMetric, now: datetime) -> tuple[Any, ...]:
    if metric.completed_at is not None:
        left = gettext("%(status)s %(when)s") % {
            "status": metric.get_status_display(),
            "when": format_datetime(metric.completed_at),
        }
        deadline = format_datetime(metric.deadline, empty="")
    elif metric.status == SLAStatus.CANCELLED:
        left, deadline = pgettext("SLA clock", "cancelled"), ""
    elif _is_due(metric) and metric.deadline is not None:
        left, deadline = (
            format_time_left(metric.deadline, now=now),
            format_datetime(metric.deadline),
        )
    else:
        # Paused: no deadline; the business time it will have once it runs again.
        remaining = max(metric.target_seconds - metric.elapsed_seconds, 0)
        left = gettext("paused, %(duration)s left") % {"duration": format_duration(remaining)}
        deadline = ""
    state = urgency([metric], now=now) if metric.completed_at is None else None
    css = f"nf-sla nf-sla-{state.state.replace('_', '-')}" if state else "nf-sla"
    return (
        metric.get_metric_type_display(),
        metric.policy.name,
        metric.get_status_display(),
        deadline,
        css,
        left,
    )


def clocks_panel(request: HttpRequest, ticket: Ticket) -> SafeString:
    """Every clock of the ticket, newest first: metric, policy, status, deadline and the
    time left (or when it completed), for the ticket's admin page."""
    now = timezone.now()
    metrics = list(
        SLAMetric.objects.filter(ticket=ticket)
        .select_related("policy")
        .order_by("-started_at", "-id")
    )
    if not metrics:
        return format_html(
            '<p class="help">{}</p>', gettext("No SLA policy applies to this ticket.")
        )
    rows = format_html_join(
        "",
        '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class="{}">{}</span></td></tr>',
        (_clock_row(metric, now) for metric in metrics),
    )
    return format_html(
        '<table class="nf-clocks"><thead><tr><th scope="col">{}</th>'
        '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th>'
        '<th scope="col">{}</th></tr></thead><tbody>{}</tbody></table>',
        gettext("Metric"),
        gettext("Policy"),
        gettext("Status"),
        gettext("Deadline"),
        gettext("Time left"),
        rows,
    )


def register() -> None:
    """Called by SlaConfig.ready."""
    from nixflow.toolkit.panels import FIELDS, register_ticket_panel
    from nixflow.toolkit.ticket_columns import register_ticket_column, register_ticket_filter

    register_ticket_column("sla", _("SLA"), sla_cells, ordering=URGENCY_ORDERING, order=10)
    # Overdue, at risk and on track tickets most urgent first: the order of the index
    # (nf_ticket_sla_due_created) that also finds them, so PostgreSQL reads the range in order.
    by_urgency = dict.fromkeys((OVERDUE, AT_RISK, ON_TRACK), URGENCY_ORDERING)
    register_ticket_filter("sla", _("SLA"), STATES, filter_by_state, ordering=by_urgency)
    # Next to the ticket's fields: the time left is what an agent looks for first.
    register_ticket_panel(_("SLA clocks"), clocks_panel, order=5, placement=FIELDS)
