"""Macros: canned replies with placeholders and the changes they make to a ticket."""

from django.urls import URLPattern, URLResolver, re_path
from rest_framework.routers import SimpleRouter

from macros.api.views import ApplyMacroView, MacroViewSet
from nixflow.models.tickets import TICKET_KEY_PATTERN

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()
router.register("macros", MacroViewSet, basename="macro")

urlpatterns: list[URLPattern | URLResolver] = [
    # The ticket's own routes are the core's; this one is the macros app's.
    re_path(
        rf"^tickets/(?P<key>{TICKET_KEY_PATTERN})/apply_macro/$",
        ApplyMacroView.as_view(),
        name="ticket-apply-macro",
    ),
    *router.urls,
]
