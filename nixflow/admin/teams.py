"""Teams, routing rules and agents' availability in the admin.

Teams and rules are saved through their services (``nixflow.services.teams``), as the
API saves them: one ``team.*`` or ``routing_rule.*`` event per save. Agents see the
teams (read-only); admins change them and own the routing rules. Every agent sets their
own availability on the "My availability" page (``availability/`` under the team list,
linked from its header), which the team list and the page also show.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_lazy

from nixflow import services
from nixflow.admin.users import time_zone_choices
from nixflow.models import Availability, Role, RoutingRule, Team, TeamMembership, User
from nixflow.toolkit.admin import READ_ONLY, RolePermissionsMixin
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.config_admin import ConfigurationAdmin
from nixflow.toolkit.errors import error_text


class TeamMembershipInline(RolePermissionsMixin, admin.TabularInline):
    model = TeamMembership
    fields = ("user", "is_lead", "last_assigned_at")
    readonly_fields = ("last_assigned_at",)
    extra = 1
    verbose_name = gettext_lazy("member")
    verbose_name_plural = gettext_lazy("members")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":  # only agents join teams (the service says so too)
            kwargs["queryset"] = User.objects.filter(
                role__in=[Role.AGENT, Role.ADMIN], is_active=True
            ).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[TeamMembership]:
        return super().get_queryset(request).select_related("user")


@admin.register(Team)
class TeamAdmin(ConfigurationAdmin):
    """Who is in the team (leads flagged), how its new tickets are assigned, and the
    agents' own availability page."""

    agent_actions = READ_ONLY
    list_display = (
        "name",
        "is_default",
        "assignment_mode",
        "max_open_per_agent",
        "reassign_when_away",
        "member_count",
    )
    search_fields = ("name",)
    inlines = (TeamMembershipInline,)
    fields = (
        "name",
        "email",
        "is_default",
        "assignment_mode",
        "max_open_per_agent",
        "reassign_when_away",
    )
    change_list_template = "admin/nixflow/team/change_list.html"
    service_fields = tuple(sorted(services.TEAM_FIELDS))
    row_arguments: ClassVar[dict[type[Model], str]] = {TeamMembership: "members"}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description=gettext_lazy("members"), ordering="member_count")
    def member_count(self, team: Team) -> int:
        return team.member_count  # type: ignore[attr-defined]

    def create_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.team_create(actor=actor, data=data, members=rows.get("members", []))

    def update_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.team_update(team=obj, actor=actor, data=data, members=rows.get("members"))

    def delete_with(self, obj: Any, actor: User) -> None:
        services.team_delete(team=obj, actor=actor)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {**(extra_context or {}), **_availability_context(request)}
        return super().changelist_view(request, extra)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "availability/",
                self.admin_site.admin_view(self.availability_view),
                name="nixflow_team_availability",
            )
        ]
        return own + super().get_urls()

    def availability_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the agent's availability, time zone and teams; POST ``availability`` or
        ``time_zone``: set it (``next`` names where to go back to)."""
        user = signed_in_user(request)
        if not user.is_agent:
            raise PermissionDenied(gettext("Only agents have an availability."))
        if request.method == "POST":
            try:
                done = self._set_own(request, user)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, error_text(error), messages.ERROR)
            else:
                self.message_user(request, done)
            target = request.POST.get("next", "")
            if not url_has_allowed_host_and_scheme(
                target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                target = reverse("admin:nixflow_team_availability")
            return HttpResponseRedirect(target)
        context = {
            **self.admin_site.each_context(request),
            **_availability_context(request),
            "title": gettext("My availability and time zone"),
            "memberships": user.team_memberships.select_related("team").order_by("team__name"),
            "time_zones": time_zone_choices(),
            "time_zone": user.time_zone,
        }
        return TemplateResponse(request, "admin/nixflow/team/availability.html", context)

    def _set_own(self, request: HttpRequest, user: User) -> str:
        """The agent's own time zone or availability from the page's POST; what changed,
        in words."""
        if "time_zone" in request.POST:
            user = services.user_set_time_zone(
                user=user, time_zone=request.POST["time_zone"], actor=user
            )
            return gettext("Dates are now shown in %(zone)s.") % {
                "zone": user.time_zone or settings.TIME_ZONE
            }
        services.user_set_availability(
            user=user, availability=request.POST.get("availability", ""), actor=user
        )
        user.refresh_from_db(fields=["availability"])
        if user.availability == Availability.AWAY:
            return gettext("You are now away.")
        return gettext("You are now available.")


def _availability_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not getattr(user, "is_agent", False):
        return {}
    away = user.availability == Availability.AWAY  # type: ignore[union-attr]
    return {
        "availability_url": reverse("admin:nixflow_team_availability"),
        "availability_label": gettext("Away") if away else gettext("Available"),
        "availability_next": Availability.AVAILABLE if away else Availability.AWAY,
        "availability_action": gettext("Set me available") if away else gettext("Set me away"),
    }


@admin.register(RoutingRule)
class RoutingRuleAdmin(ConfigurationAdmin):
    """The rules that give new tickets their team, tried in order (position); admins
    only. A condition left empty matches anything; no match: the default team."""

    agent_actions = frozenset()
    list_display = (
        "position",
        "name",
        "is_active",
        "team",
        "workflow",
        "source",
        "origin",
        "priority",
        "requester_domain",
    )
    list_display_links = ("name",)
    list_filter = ("is_active", "team")
    list_select_related = ("team", "workflow")
    ordering = ("position", "id")
    fields = (
        "name",
        "position",
        "is_active",
        "team",
        "workflow",
        "source",
        "origin",
        "priority",
        "requester_domain",
    )
    service_fields = tuple(sorted(services.ROUTING_RULE_FIELDS))

    def create_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.routing_rule_create(actor=actor, data=data)

    def update_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.routing_rule_update(rule=obj, actor=actor, data=data)

    def delete_with(self, obj: Any, actor: User) -> None:
        services.routing_rule_delete(rule=obj, actor=actor)
