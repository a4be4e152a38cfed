"""The admin site: branded NixFlow, and its home page is the desk.

``NixFlowAdminSite`` is Django's default admin site (``NixflowAdminConfig.default_site``
in nixflow/apps.py), so ``admin.site`` and ``@admin.register`` in every app register on
it unchanged. Its index starts with the work: the signed-in agent's queues with their
counts (nixflow.toolkit.queues), their saved views (nixflow.admin.saved_views) and
the desk's links (SLA dashboard, reports), above the
model lists (admin/index.html).

A module of its own, outside the nixflow.admin package: Django imports ``default_site``
when ``admin.site`` is first used, which autodiscovery does while importing that package;
were the class inside it, the package's own ``@admin.register`` calls would build a
first site that the import then replaces with a second, empty one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy

from nixflow.models import User
from nixflow.toolkit import queues


class NixFlowAdminSite(admin.AdminSite):
    site_title = "NixFlow"
    site_header = "NixFlow"
    index_title = gettext_lazy("Desk")
    # "View site": the help center, what requesters see of the desk (helpcenter app).
    site_url: str | None = "/help/"
    # The model lists (the desk's and the sidebar's): the apps agents use most first,
    # then the rest by name; tickets first among the core's models.
    app_order = ("nixflow", "sla", "knowledge")
    first_models = {"nixflow": "Ticket"}

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        user = request.user
        desk: dict[str, Any] = {"desk_queues": [], "desk_links": [], "desk_views": []}
        if isinstance(user, User) and user.is_agent:
            # Not at the top: the nixflow.admin package registers on this site, so
            # importing it while Django builds the site would build a second one.
            from nixflow.admin.desk import queue_link
            from nixflow.admin.saved_views import counted_views

            desk = {
                "desk_queues": queues.counted_queues(
                    user, link=lambda queue: queue_link(queue, request)
                ),
                "desk_links": queues.links_for(user),
                # The agent's saved views and their teams' (nixflow.admin.saved_views).
                "desk_views": counted_views(request),
            }
        response: TemplateResponse = super().index(request, {**desk, **(extra_context or {})})
        return response

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        rank = {label: position for position, label in enumerate(self.app_order)}
        apps.sort(key=lambda app: (rank.get(app["app_label"], len(rank)), app["name"]))
        for app in apps:
            first = self.first_models.get(app["app_label"])
            app["models"].sort(key=lambda model: (model["object_name"] != first, model["name"]))
        return apps
