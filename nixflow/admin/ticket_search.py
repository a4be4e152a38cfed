"""The ticket list's search box and sidebar filters, each served by an index at a
million tickets (docs/admin-lists.md, docs/search.md).

The search (``search_tickets``, kept in ``nixflow.search`` where the API finds it too)
is full-text over the whole conversation (``nixflow.search``): key, title,
description and every comment for agents, the public conversation for requesters, with
phrases, prefixes and exclusions. A query of plain words may also name the requester
(username, e-mail, first or last name): those people are found first, in one indexed
query on the user table, and their ids go into the ticket query as a literal list, so
the condition is a BitmapOr of the GIN index and ``nf_ticket_requester_created``
(PostgreSQL cannot combine a sub-plan with bitmap index scans).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from nixflow.models import Role, Stage, StageCategory, Ticket, User
from nixflow.search import people_matching, requester_condition, search_tickets

__all__ = [
    "AgentListFilter",
    "StageCategoryFilter",
    "people_matching",
    "requester_condition",
    "search_tickets",
]


# --- Sidebar filters ---------------------------------------------------------------------
class StageCategoryFilter(admin.SimpleListFilter):
    """The stage's category (New, Open, Waiting, ...), the same across workflows.

    The ids of the category's stages go into the query as a list, so the planner sees
    ``stage_id = ANY(...)`` on nf_ticket_stage_created instead of a join to stages.
    """

    title = gettext_lazy("stage")
    parameter_name = "stage_category"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in StageCategory.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        category = self.value()
        if not category:
            return queryset
        stages = list(Stage.objects.filter(category=category).values_list("pk", flat=True))
        return queryset.filter(stage_id__in=stages)


class AgentListFilter(admin.RelatedFieldListFilter):
    """Assignee choices: the active agents and admins, by name; not requesters, nor
    accounts that cannot work tickets. A deactivated agent chosen by a link stays
    listed, so that the selection shows."""

    def field_choices(  # type: ignore[override]
        self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[Any, str]]:
        chosen = [pk for pk in (self.lookup_val or []) if str(pk).isdigit()]
        agents = User.objects.filter(
            Q(is_active=True, role__in=[Role.AGENT, Role.ADMIN]) | Q(pk__in=chosen)
        ).order_by("first_name", "last_name", "username")
        return [(user.pk, user.get_full_name() or user.username) for user in agents]
