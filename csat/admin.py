"""Satisfaction in the admin: the policy per workflow (admins change it, agents read
it), the surveys, and the ratings with a summary per agent and per team.

The ratings list filters by answer, agent, team and date; above it, the filtered ratings
are summed up per agent and per team (count and share of good answers), two GROUP BY
queries over the same filter, served by the (agent|team, -created) indexes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from csat import selectors
from csat.models import Rating, Survey, SurveyPolicy
from nixflow.models import Role, Ticket, User
from nixflow.toolkit.admin import READ_ONLY, RecordAdmin, RolePermissionsMixin


def _ticket_link(ticket_id: int) -> SafeString:
    url = reverse("admin:nixflow_ticket_change", args=[ticket_id])
    return format_html('<a href="{}">{}</a>', url, Ticket.key_for(ticket_id))


class AgentFilter(admin.SimpleListFilter):
    """The desk's agents and admins (a short list), not every user the foreign key could
    name, nor a DISTINCT over the ratings to find those rated (RelatedOnlyFieldListFilter)."""

    title = "agent"
    parameter_name = "agent__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        agents = User.objects.filter(role__in=[Role.AGENT, Role.ADMIN]).order_by("username")
        return [(str(pk), name) for pk, name in agents.values_list("pk", "username")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Rating]) -> QuerySet[Rating]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(agent_id=int(value)) if value.isdigit() else queryset.none()


@admin.register(SurveyPolicy)
class SurveyPolicyAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """Per workflow: surveys on or off, the delay, and how long answers stay changeable.
    A workflow without a policy surveys at once and keeps answers changeable 7 days
    (the CSAT_DEFAULT_* settings)."""

    agent_actions = READ_ONLY
    list_display = ("workflow", "enabled", "delay_minutes", "changeable_days")
    list_filter = ("enabled",)
    list_select_related = ("workflow",)
    ordering = ("workflow__name",)


@admin.register(Survey)
class SurveyAdmin(RecordAdmin):
    """Every survey: when it is due, whether it was mailed, and why not."""

    list_display = ("ticket_ref", "status", "agent", "team", "resolved_at", "due_at", "sent_at")
    list_filter = ("status",)
    list_select_related = ("agent", "team")
    exclude = ("requester",)  # the person's account, not needed to read the survey

    @admin.display(description=_("ticket"), ordering="ticket_id")
    def ticket_ref(self, survey: Survey) -> SafeString:
        return _ticket_link(survey.ticket_id)


@admin.register(Rating)
class RatingAdmin(RecordAdmin):
    """The requesters' answers, newest first, with the summary per agent and team."""

    ordering: ClassVar[tuple[str, ...]] = ("-created", "-id")
    list_display = ("ticket_ref", "rating", "agent", "team", "created", "updated", "has_comment")
    list_filter = (
        "rating",
        AgentFilter,
        "team",
        ("created", admin.DateFieldListFilter),
    )
    list_select_related = ("agent", "team")
    # No date_hierarchy: its links need a DISTINCT over the dates of every rating listed
    # on each page view; the date filter's fixed ranges need no query of their own.
    exclude = ("survey",)

    @admin.display(description=_("ticket"), ordering="ticket_id")
    def ticket_ref(self, rating: Rating) -> SafeString:
        return _ticket_link(rating.ticket_id)

    @admin.display(description=_("comment"), boolean=True)
    def has_comment(self, rating: Rating) -> bool:
        return bool(rating.comment)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if isinstance(response, TemplateResponse) and changelist is not None:
            ratings: QuerySet[Rating] = changelist.queryset
            assert response.context_data is not None  # noqa: S101 -- checked above
            teams = selectors.rating_summary(ratings, by="team")
            response.context_data["csat_summary"] = {
                "total": selectors.rating_totals(teams),
                "agents": selectors.rating_summary(ratings, by="agent"),
                "teams": teams,
            }
        return response
