"""Teams with their members, routing rules, agents' availability and a ticket's team.

Teams and rules are configuration: admins create, change and delete them, each change
one ``team.*`` or ``routing_rule.*`` event (payloads in ``nixflow.events``). A team's
members are changed with the team, as its inline rows. Moving a ticket between teams is
a ticket service like the others: the ticket locked, a history row, one event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from nixflow import events
from nixflow.models import (
    DONE_CATEGORIES,
    Availability,
    RoutingRule,
    Team,
    TeamMembership,
    Ticket,
    User,
)
from nixflow.services import assignment, routing
from nixflow.services import tickets as ticket_services
from nixflow.toolkit.auth import is_admin, require_admin, require_agent
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.services import changes_payload, model_update

TEAM_FIELDS = frozenset(
    {"name", "email", "is_default", "assignment_mode", "max_open_per_agent", "reassign_when_away"}
)
ROUTING_RULE_FIELDS = frozenset(
    {
        "name",
        "position",
        "is_active",
        "team",
        "workflow",
        "source",
        "origin",
        "priority",
        "requester_domain",
    }
)
# A member as a service takes it: {"user": User, "is_lead": bool}.
MemberRow = Mapping[str, Any]


# --- Teams --------------------------------------------------------------------------------
def _member_entry(membership: TeamMembership) -> dict[str, Any]:
    return {
        "user_id": membership.user_id,
        "username": membership.user.username,
        "is_lead": membership.is_lead,
    }


def _team_snapshot(team: Team) -> dict[str, Any]:
    members = team.memberships.select_related("user").order_by("user__username")
    return {
        "name": team.name,
        "is_default": team.is_default,
        "assignment_mode": team.assignment_mode,
        "max_open_per_agent": team.max_open_per_agent,
        "reassign_when_away": team.reassign_when_away,
        "members": [_member_entry(m) for m in members],
    }


def _wanted_members(rows: Sequence[MemberRow]) -> dict[int, tuple[User, bool]]:
    wanted: dict[int, tuple[User, bool]] = {}
    for row in rows:
        user = row["user"]
        if not (user.is_agent and user.is_active):
            raise ValidationError(
                {"members": f"{user.username} is not an active agent; only agents join teams."}
            )
        if user.pk in wanted:
            raise ValidationError({"members": f"{user.username} is listed twice."})
        wanted[user.pk] = (user, bool(row.get("is_lead", False)))
    return wanted


def _apply_members(team: Team, rows: Sequence[MemberRow]) -> dict[str, list[dict[str, Any]]]:
    """Make the team's members ``rows``; what was added, removed and changed."""
    wanted = _wanted_members(rows)
    before = {m.user_id: m for m in team.memberships.select_related("user")}
    change: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    gone = [m for user_id, m in before.items() if user_id not in wanted]
    change["removed"] = [_member_entry(m) for m in gone]
    TeamMembership.objects.filter(pk__in=[m.pk for m in gone]).delete()
    for user_id, (user, is_lead) in wanted.items():
        membership = before.get(user_id)
        if membership is None:
            membership = TeamMembership.objects.create(team=team, user=user, is_lead=is_lead)
            change["added"].append(_member_entry(membership))
        elif membership.is_lead != is_lead:
            changes = model_update(instance=membership, data={"is_lead": is_lead}, validate=None)
            change["changed"].append(
                {
                    "user_id": user_id,
                    "username": user.username,
                    "changes": changes_payload(changes),
                }
            )
    for entries in change.values():
        entries.sort(key=lambda entry: entry["username"])
    return change


def _clean_team_data(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - TEAM_FIELDS)
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(unknown)}.")
    cleaned = dict(data)
    if "name" in cleaned:
        cleaned["name"] = cleaned["name"].strip()
    return cleaned


def _team_refusal(error: IntegrityError) -> ValidationError:
    # Two teams saved at once can both pass full_clean's checks; the database refuses
    # the second, said as full_clean would.
    text = str(error)
    if "nixflow_team_one_default" in text:
        return ValidationError({"is_default": "Another team is the default team already."})
    if "nixflow_team_name_ci_unique" in text:
        return ValidationError({"name": "A team with this name already exists."})
    return ValidationError("The change conflicts with another one made at the same time.")


@transaction.atomic
def team_create(
    *, actor: User | None, data: Mapping[str, Any], members: Sequence[MemberRow] = ()
) -> Team:
    """Create a team with its members (``{"user", "is_lead"}`` rows); admins only.
    Records ``team.created`` with the whole team."""
    require_admin(actor, "create teams")
    team = Team(**_clean_team_data(data))
    team.full_clean()
    try:
        with transaction.atomic():
            team.save()
            _apply_members(team, members)
    except IntegrityError as error:
        raise _team_refusal(error) from error
    events.record_config_event(
        type=events.TEAM_CREATED, subject=team, actor=actor, payload=_team_snapshot(team)
    )
    return team


@transaction.atomic
def team_update(
    *,
    team: Team,
    actor: User | None,
    data: Mapping[str, Any] | None = None,
    members: Sequence[MemberRow] | None = None,
) -> Team:
    """Change a team's fields and make its members ``members`` (None: unchanged); admins
    only. The team's row is locked, which also holds its auto-assignment until the change
    commits (nixflow.services.assignment). Records one ``team.updated`` with everything
    that changed, nothing when nothing did. When the team assigns automatically, its
    waiting tickets then go to whoever can take them now (a higher cap, a new member)."""
    require_admin(actor, "change teams")
    team = Team.objects.select_for_update().get(pk=team.pk)
    try:
        with transaction.atomic():
            changes = model_update(
                instance=team,
                data=_clean_team_data(data or {}),
                also_set={"updated": timezone.now()},
            )
            member_change = (
                _apply_members(team, members)
                if members is not None
                else {"added": [], "removed": [], "changed": []}
            )
    except IntegrityError as error:
        raise _team_refusal(error) from error
    if not (changes or any(member_change.values())):
        return team
    events.record_config_event(
        type=events.TEAM_UPDATED,
        subject=team,
        actor=actor,
        payload={
            "fields": sorted(changes),
            "changes": changes_payload(changes, hide={"email"}),
            "members": member_change,
        },
    )
    assignment.drain(team_ids=[team.pk])
    return team


@transaction.atomic
def team_delete(*, team: Team, actor: User | None) -> None:
    """Delete a team no ticket belongs to; admins only. Its routing rules go with it
    (named in the ``team.deleted`` event)."""
    require_admin(actor, "delete teams")
    team = Team.objects.select_for_update().get(pk=team.pk)
    if Ticket.objects.filter(team=team).exists():
        raise ConflictError(
            f"Team {team.name} has tickets; move them to another team before deleting it."
        )
    payload = {
        **_team_snapshot(team),
        "routing_rules": list(
            team.routing_rules.order_by("position", "id").values_list("name", flat=True)
        ),
    }
    events.record_config_event(type=events.TEAM_DELETED, subject=team, actor=actor, payload=payload)
    team.delete()


# --- Routing rules --------------------------------------------------------------------------
def _rule_entry(rule: RoutingRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "position": rule.position,
        "is_active": rule.is_active,
        "team_id": rule.team_id,
        "team": rule.team.name,
        "workflow_id": rule.workflow_id,
        "source": rule.source,
        "origin": rule.origin,
        "priority": rule.priority,
        "requester_domain": rule.requester_domain,
    }


def _clean_rule_data(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - ROUTING_RULE_FIELDS)
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(unknown)}.")
    cleaned = dict(data)
    for name in ("name", "origin"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
    if "requester_domain" in cleaned:  # "@Example.com" and "example.com" are one domain
        cleaned["requester_domain"] = (
            (cleaned["requester_domain"] or "").strip().lstrip("@").lower()
        )
    return cleaned


@transaction.atomic
def routing_rule_create(*, actor: User | None, data: Mapping[str, Any]) -> RoutingRule:
    """Add a routing rule; admins only. Records ``routing_rule.created``."""
    require_admin(actor, "create routing rules")
    rule = RoutingRule(**_clean_rule_data(data))
    rule.full_clean()
    rule.save()
    events.record_config_event(
        type=events.ROUTING_RULE_CREATED, subject=rule, actor=actor, payload=_rule_entry(rule)
    )
    return rule


@transaction.atomic
def routing_rule_update(
    *, rule: RoutingRule, actor: User | None, data: Mapping[str, Any]
) -> RoutingRule:
    """Change a routing rule; admins only. Records ``routing_rule.updated`` when
    something changed."""
    require_admin(actor, "change routing rules")
    rule = RoutingRule.objects.select_for_update().get(pk=rule.pk)
    changes = model_update(
        instance=rule, data=_clean_rule_data(data), also_set={"updated": timezone.now()}
    )
    if changes:
        events.record_config_event(
            type=events.ROUTING_RULE_UPDATED,
            subject=rule,
            actor=actor,
            payload={"fields": sorted(changes), "changes": changes_payload(changes)},
        )
    return rule


@transaction.atomic
def routing_rule_delete(*, rule: RoutingRule, actor: User | None) -> None:
    """Delete a routing rule; admins only. Records ``routing_rule.deleted``."""
    require_admin(actor, "delete routing rules")
    rule = RoutingRule.objects.select_for_update().select_related("team").get(pk=rule.pk)
    events.record_config_event(
        type=events.ROUTING_RULE_DELETED, subject=rule, actor=actor, payload=_rule_entry(rule)
    )
    rule.delete()


# --- Availability ---------------------------------------------------------------------------
def _lock_open_tickets_to_return(user: User, *, skip_locked: bool) -> list[Ticket]:
    return list(
        Ticket.objects.select_for_update(of=("self",), skip_locked=skip_locked)
        .filter(assignee=user, team__reassign_when_away=True)
        .exclude(stage__category__in=DONE_CATEGORIES)
        .order_by("id")
    )


def _return_to_queues(user: User, actor: User | None) -> int:
    """Unassign the user's open tickets of teams that reassign when a member is away;
    teams that assign automatically give them to their available members (a drain: each
    freed ticket only drains capped teams).

    Lock order (nixflow.services.assignment): the tickets are all locked first, in id
    order, before the drain takes the team locks. A pick that read the user as available
    before this change committed may have given them one more ticket meanwhile: the
    second pass, made once the drain holds those teams' locks (no pick of them can run
    until this commits), returns it too, skipping a ticket someone else is changing
    rather than waiting for it under a team lock.
    """
    team_ids = list(
        user.team_memberships.filter(team__reassign_when_away=True).values_list("team", flat=True)
    )
    returned = 0
    for skip_locked in (False, True):
        tickets = _lock_open_tickets_to_return(user, skip_locked=skip_locked)
        for ticket in tickets:
            ticket_services.ticket_assign(ticket=ticket, assignee=None, actor=actor)
        returned += len(tickets)
        assignment.drain(team_ids=team_ids)
    return returned


@transaction.atomic
def user_set_availability(*, user: User, availability: str, actor: User | None) -> User:
    """Set an agent's availability: agents their own, admins anyone's.

    Away agents get no new tickets from auto-assignment; going away also returns their
    open tickets of teams with ``reassign_when_away`` to the team's queue (and to other
    members when the team assigns automatically). Coming back lets the waiting tickets
    of their auto-assigning teams go out. Records ``user.availability_changed``.
    """
    if actor is not None and actor.pk != user.pk and not is_admin(actor):
        raise PermissionDenied("Only admins can set another person's availability.")
    require_agent(actor, "set an availability")
    if availability not in Availability.values:
        raise ValidationError(
            {"availability": f"{availability!r} is not one of {', '.join(Availability.values)}."}
        )
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_agent:
        raise ValidationError({"availability": f"{user.username} is not an agent."})
    previous = user.availability
    if previous == availability:
        return user
    user.availability = availability
    user.save(update_fields=["availability"])
    returned = 0
    if availability == Availability.AWAY:
        returned = _return_to_queues(user, actor)
    else:
        assignment.drain(team_ids=assignment.auto_assigning_teams(user_id=user.pk))
    events.record_user_event(
        type=events.USER_AVAILABILITY_CHANGED,
        user=user,
        actor=actor,
        payload={"availability": availability, "previous": previous, "returned_tickets": returned},
    )
    return user


# --- A ticket's team ------------------------------------------------------------------------
def _set_team(ticket: Ticket, team: Team | None, actor: User | None, *, routed: bool) -> Ticket:
    """Set the (locked) ticket's team with its history row and event, then let the new
    team auto-assign it when nobody has it."""
    if ticket.team_id == (team.pk if team else None):
        return ticket
    now = timezone.now()
    previous = ticket.team
    ticket.team = team
    ticket.save(update_fields=["team", *ticket_services.touch(ticket, now)])
    ticket_services._commit_change(
        ticket=ticket,
        actor=actor,
        event_type=events.TICKET_TEAM_CHANGED,
        changes={"team": (previous, team)},
        at=now,
        payload={
            "team_id": team.pk if team else None,
            "previous_team_id": previous.pk if previous else None,
            "routed": routed,
        },
    )
    if ticket.stage.category in DONE_CATEGORIES:
        return ticket
    return assignment.auto_assign(ticket=ticket)


@transaction.atomic
def ticket_set_team(*, ticket: Ticket, team: Team | None, actor: User | None) -> Ticket:
    """Move the ticket to ``team`` (None: no team); agents only. Records
    ``ticket.team_changed`` with a history row; the assignee stays, and an unassigned
    open ticket is auto-assigned by its new team when that team does so."""
    require_agent(actor, "move tickets between teams")
    ticket_services._require_can_view(actor, ticket)
    ticket = ticket_services._lock(ticket)
    return _set_team(ticket, team, actor, routed=False)


def ticket_route_again(*, ticket: Ticket) -> Ticket:
    """Route a ticket that has no team yet (its priority changed): the system sets the
    team the rules give now. Origin conditions matched only when the ticket came in."""
    if ticket.team_id is not None:
        return ticket
    team = routing.route(ticket=ticket)
    if team is None:
        return ticket
    return _set_team(ticket, team, None, routed=True)


def on_ticket_event(sender: Any, event: events.TicketEvent, **kwargs: Any) -> None:
    """Connected to ``events.ticket_event`` (nixflow.apps). Frees capacity when a ticket
    leaves its assignee (given to another or unassigned) or is resolved or closed, and
    routes a ticket without a team when its priority changes. Runs in the changing
    transaction, where the service has locked the ticket already."""
    ticket = event.ticket
    payload = event.payload
    if event.type == events.TICKET_ASSIGNED:
        previous = payload.get("previous_assignee_id")
        if isinstance(previous, int):
            # Put back in the queue (unassigned), the ticket waits for someone else.
            keep = ticket.pk if ticket.assignee_id is None else None
            assignment.capacity_freed(user_id=previous, keep=keep)
    elif event.type == events.TICKET_TRANSITIONED:
        done = payload.get("to_category") in DONE_CATEGORIES
        was_done = payload.get("from_category") in DONE_CATEGORIES
        if done and not was_done and ticket.assignee_id is not None:
            assignment.capacity_freed(user_id=ticket.assignee_id)
    elif event.type == events.TICKET_UPDATED and "priority" in event.changes:
        ticket_route_again(ticket=ticket)
