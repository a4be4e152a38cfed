"""Saved views: a name for a ticket-list query (filters, search, ordering), personal or
shared with one of the owner's teams. Agents save them from the ticket list (the
"Save this view" control) or through ``/api/views/``; the desk lists them with counts.

Who may do what:
- any agent creates views; a team view only for a team they are a member of (admins:
  any team);
- the owner changes and deletes their views; a lead of the view's team may too (team
  views are the team's), and admins may;
- everyone sees their own views and their teams' (``saved_views_visible``).

The query is stored as the ticket list's query string, without what is not part of a
view (the page, a keyset cursor, "show all", the admin's error flag and popup
markers). Whether it still runs against the list is checked where it is shown (a
filter may disappear with an app): nixflow.admin.saved_views.view_tickets.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from eventlog.services import event_record
from nixflow import events
from nixflow.models import SavedView, Team, TeamMembership, User
from nixflow.toolkit.auth import is_admin, require_agent
from nixflow.toolkit.queues import my_team_ids
from nixflow.toolkit.services import changes_payload, model_update

SAVED_VIEW_FIELDS = frozenset({"name", "team", "query", "position"})

# Parameters of the list that say where one is in it or how it was reached, not which
# tickets it shows: page, keyset cursor, "show all", the error flag, popup markers.
NOT_A_VIEW = frozenset({"p", "cursor", "all", "e", "_popup", "_to_field", "_changelist_filters"})


def view_query(query: str) -> str:
    """``query`` as a view stores it: a query string (a leading "?" dropped) without the
    parameters of NOT_A_VIEW, in the order given."""
    params = QueryDict(query.strip().removeprefix("?"), mutable=True)
    for name in NOT_A_VIEW:
        params.pop(name, None)
    # PostgreSQL refuses text with a NUL character: refused here rather than by every count.
    texts = [text for key, values in params.lists() for text in (key, *values)]
    if any("\x00" in text for text in texts):
        raise ValidationError("A view's query cannot contain a NUL character.")
    return params.urlencode()


def saved_views_visible(user: User) -> QuerySet[SavedView]:
    """The views ``user`` sees: their own and their teams' (nixflow_savedview_owner,
    nixflow_savedview_team)."""
    return (
        SavedView.objects.filter(Q(owner=user) | Q(team_id__in=my_team_ids(user)))
        .select_related("team", "owner")
        .order_by("position", "name", "id")
    )


def can_change_view(user: User, view: SavedView) -> bool:
    if view.owner_id == user.pk or is_admin(user):
        return True
    return (
        view.team_id is not None
        and TeamMembership.objects.filter(team_id=view.team_id, user=user, is_lead=True).exists()
    )


def _require_team(actor: User | None, team: Team | None) -> None:
    if team is None or actor is None or is_admin(actor):
        return
    if not TeamMembership.objects.filter(team=team, user=actor).exists():
        raise ValidationError({"team": f"You are not a member of {team.name}."})


def _require_change(actor: User | None, view: SavedView, action: str) -> None:
    require_agent(actor, f"{action} saved views")
    if actor is not None and not can_change_view(actor, view):
        raise PermissionDenied(
            f"Only the view's owner, its team's leads and admins can {action} it."
        )


def _payload(view: SavedView) -> dict[str, Any]:
    return {
        "name": view.name,
        "team_id": view.team_id,
        "query": view.query,
        "position": view.position,
    }


@transaction.atomic
def saved_view_create(
    *,
    owner: User,
    name: str,
    query: str,
    team: Team | None = None,
    position: int = 0,
    actor: User | None,
) -> SavedView:
    """Save a view of the ticket list for ``owner`` (personal when ``team`` is None) and
    record ``view.created``. ``actor`` is who saves it: the owner, or None (the
    system: demo data)."""
    require_agent(actor, "save views")
    require_agent(owner, "own saved views")
    if actor is not None and actor.pk != owner.pk:
        raise PermissionDenied("Agents save views for themselves.")
    _require_team(actor, team)
    view = SavedView(
        name=name.strip(), owner=owner, team=team, query=view_query(query), position=position
    )
    view.full_clean()
    view.save()
    event_record(type=events.VIEW_CREATED, subject=view, actor=actor, payload=_payload(view))
    return view


@transaction.atomic
def saved_view_update(*, view: SavedView, actor: User | None, data: dict[str, Any]) -> SavedView:
    """Change a view's name, team, query or position (``SAVED_VIEW_FIELDS``) and record
    ``view.updated`` with the changed fields; nothing changed, no event."""
    view = SavedView.objects.select_for_update().get(pk=view.pk)
    _require_change(actor, view, "change")
    data = dict(data)
    if "name" in data:
        data["name"] = str(data["name"]).strip()
    if "query" in data:
        data["query"] = view_query(str(data["query"]))
    if "team" in data:
        _require_team(actor, data["team"])
    changes = model_update(
        instance=view,
        data=data,
        allowed=SAVED_VIEW_FIELDS,
        also_set={"updated": timezone.now()},
    )
    if changes:
        event_record(
            type=events.VIEW_UPDATED,
            subject=view,
            actor=actor,
            payload={"fields": sorted(changes), "changes": changes_payload(changes)},
        )
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, actor: User | None) -> None:
    """Delete a view and record ``view.deleted`` with what it was."""
    view = SavedView.objects.select_for_update().get(pk=view.pk)
    _require_change(actor, view, "delete")
    event_record(type=events.VIEW_DELETED, subject=view, actor=actor, payload=_payload(view))
    view.delete()
