from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class NixflowConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "nixflow"
    verbose_name = "NixFlow service desk"

    def ready(self) -> None:
        from nixflow import search
        from nixflow.admin import links, presence
        from nixflow.events import ticket_event
        from nixflow.platform import checks  # noqa: F401 -- registers the checks
        from nixflow.services import teams

        # Auto-assignment hears of freed capacity and of priority changes (routing).
        ticket_event.connect(teams.on_ticket_event, dispatch_uid="nixflow.teams")
        search.register()  # the search documents follow every ticket and comment write
        links.register()  # linked and merged tickets on the ticket page and list
        presence.register()  # who else has the ticket open


class NixflowAdminConfig(admin_apps.AdminConfig):
    """Django's admin with NixFlow's site as ``admin.site`` (branding, the desk). Named
    in INSTALLED_APPS; ``default = False`` keeps "nixflow" itself on NixflowConfig (the
    admin's class is imported as a module attribute for the same reason)."""

    default = False

    default_site = "nixflow.admin_site.NixFlowAdminSite"
