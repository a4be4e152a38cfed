"""Reads of the macros app: which macros a user may use, and which they may see to
manage. Requesters get none."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from macros.models import Macro, Scope
from nixflow.models import Team, TeamMembership, Ticket, User
from nixflow.toolkit.auth import is_admin


def _usable(user: User) -> Q:
    return (
        Q(scope=Scope.GLOBAL)
        | Q(scope=Scope.PERSONAL, owner=user)
        | Q(scope=Scope.TEAM, owner_team__in=Team.objects.filter(memberships__user=user))
    )


def macros_for(*, user: User, ticket: Ticket | None = None) -> QuerySet[Macro]:
    """The active macros ``user`` may apply: their own personal ones, their teams' and
    the global ones. With ``ticket``, those whose stage change (if any) is in the
    ticket's workflow: another workflow's stage could never be reached."""
    if not (user.is_active and user.is_agent):
        return Macro.objects.none()
    macros = Macro.objects.filter(_usable(user), is_active=True)
    if ticket is not None:
        macros = macros.filter(
            Q(set_stage__isnull=True) | Q(set_stage__workflow=ticket.workflow_id)
        )
    return macros.select_related("set_stage", "set_team", "assignee").order_by("name", "id")


def macros_visible(*, user: User) -> QuerySet[Macro]:
    """The macros ``user`` sees where macros are managed (admin, API): admins all of
    them; agents those they may use, inactive ones included."""
    if not (user.is_active and user.is_agent):
        return Macro.objects.none()
    macros = Macro.objects.all() if is_admin(user) else Macro.objects.filter(_usable(user))
    return macros.select_related("owner", "owner_team", "set_stage").order_by("name", "id")


def leads(*, user: User, team_id: int | None) -> bool:
    return (
        team_id is not None
        and TeamMembership.objects.filter(team_id=team_id, user=user, is_lead=True).exists()
    )


def may_manage(*, user: User, scope: str, owner_id: int | None, team_id: int | None) -> bool:
    """Who changes which macros: an agent their personal ones, a team's lead the team's,
    admins every macro."""
    if not (user.is_active and user.is_agent):
        return False
    if is_admin(user):
        return True
    if scope == Scope.PERSONAL:
        return owner_id == user.pk
    if scope == Scope.TEAM:
        return leads(user=user, team_id=team_id)
    return False
