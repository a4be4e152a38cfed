"""Which team a ticket goes to: the first active routing rule that matches it, by
position, else the default team (nixflow.models.RoutingRule)."""

from __future__ import annotations

from django.db.models import Q

from nixflow.models import RoutingRule, Team, Ticket


def requester_domain(ticket: Ticket) -> str:
    """The requester's e-mail domain, lower-cased ("" without an address)."""
    email = ticket.requester.email or ""
    return email.rpartition("@")[2].strip().lower() if "@" in email else ""


def _matching_rules(ticket: Ticket, origin: str) -> Q:
    """Each condition of a rule is empty (any) or equal to the ticket's value."""
    domain = requester_domain(ticket)
    return (
        (Q(workflow__isnull=True) | Q(workflow_id=ticket.workflow_id))
        & (Q(source="") | Q(source=ticket.source))
        & (Q(origin="") | Q(origin__iexact=origin.strip()))
        & (Q(priority="") | Q(priority=ticket.priority))
        & (Q(requester_domain="") | Q(requester_domain__iexact=domain))
    )


def route(*, ticket: Ticket, origin: str = "") -> Team | None:
    """The team ``ticket`` belongs to by the routing rules, None when no rule matches and
    no team is the default.

    ``ticket`` need not be saved yet (``ticket_create`` routes before inserting, so the
    row is written once). ``origin`` is where within its source it came from: the mail
    account's name, the form's slug; empty matches only rules without an origin. Rules
    are few: one query filters them in SQL and takes the first by position.
    """
    rule = (
        RoutingRule.objects.filter(_matching_rules(ticket, origin), is_active=True)
        .select_related("team")
        .order_by("position", "id")
        .first()
    )
    if rule is not None:
        return rule.team
    return Team.objects.filter(is_default=True).first()
